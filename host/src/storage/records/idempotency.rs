//! Remembered answers to requests retried with an `Idempotency-Key`, and their time index for
//! pruning the oldest first.

use serde::{Deserialize, Serialize};

use crate::domain::clock::Timestamp;
use crate::domain::ids::EntryId;
use crate::storage::{StorageError, Tx, View, codec, tables};

/// One remembered answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    pub status: u16,
    pub content_type: String,
    /// The answer's body, sealed under the server key with the storage key as context (hex).
    #[serde(default)]
    pub sealed_body: String,
    /// SHA-256 of the request body the key was first used with (hex).
    #[serde(default)]
    pub request_sha256: String,
    pub at: Timestamp,
}

/// A request with this key is being processed, by some server, until `until` at the latest.
#[derive(Debug, Serialize, Deserialize)]
struct Claimed {
    until: Timestamp,
}

/// The time index entry of a remembered answer.
#[derive(Debug, Serialize, Deserialize)]
struct Ordered {
    key: String,
    at: Timestamp,
}

impl Tx<'_> {
    pub fn remember(&self, key: &str, answer: &Remembered) -> Result<(), StorageError> {
        self.put_keyed(tables::IDEMPOTENCY, key, answer)?;
        self.put(
            tables::IDEMPOTENCY_ORDER,
            EntryId::new().key(),
            &Ordered {
                key: key.to_owned(),
                at: answer.at,
            },
        )
    }

    /// Claims `key` for one request until `until`, unless a live claim holds it: whether it
    /// was free. A claim past its `until` (its server died mid-request) is taken over.
    pub fn claim_idempotency_key(
        &self,
        key: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StorageError> {
        let held = self
            .view()
            .keyed::<Claimed>(tables::IDEMPOTENCY_CLAIMS, key)?
            .is_some_and(|claim| claim.until > now);
        if !held {
            self.put_keyed(tables::IDEMPOTENCY_CLAIMS, key, &Claimed { until })?;
        }
        Ok(!held)
    }

    pub fn release_idempotency_key(&self, key: &str) -> Result<(), StorageError> {
        self.delete_keyed(tables::IDEMPOTENCY_CLAIMS, key)
    }

    /// Forgets the claims among up to `limit` after `after` whose lease ended by `now` (left by
    /// a server that died mid-request, or whose release failed); answers how many, and the key
    /// to go on after when the page was full.
    pub fn forget_lapsed_claims(
        &self,
        now: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), StorageError> {
        let page = self
            .view()
            .raw_keyed(tables::IDEMPOTENCY_CLAIMS, after, limit)?;
        let mut removed = 0;
        for (key, bytes) in &page {
            if codec::decode::<Claimed>(bytes)?.until <= now {
                self.delete_keyed(tables::IDEMPOTENCY_CLAIMS, key)?;
                removed += 1;
            }
        }
        let next = if page.len() == limit {
            page.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Ok((removed, next))
    }

    /// Forgets up to `limit` answers remembered before `cutoff`, oldest first; returns how
    /// many.
    pub fn forget_answers_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let mut n = 0;
        for (id, entry) in self
            .view()
            .scan::<Ordered>(tables::IDEMPOTENCY_ORDER, None, limit)?
        {
            if entry.at >= cutoff {
                break;
            }
            self.delete(tables::IDEMPOTENCY_ORDER, id)?;
            self.delete_keyed(tables::IDEMPOTENCY, &entry.key)?;
            n += 1;
        }
        Ok(n)
    }
}

impl View<'_> {
    pub fn remembered(&self, key: &str) -> Result<Option<Remembered>, StorageError> {
        self.keyed(tables::IDEMPOTENCY, key)
    }
}
