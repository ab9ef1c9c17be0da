//! Remembered answers to creating requests retried with the same `Idempotency-Key`.
//!
//! An answer is remembered per principal (a user, or the operator, whichever of its tokens it
//! used), route and key, only once the request was authenticated and succeeded, with a hash of
//! the request body so the key cannot be replayed for another request. Answers carry one-time
//! secrets (invitation tokens, PINs, API tokens), so the stored body is sealed under the
//! server's key ([`super::server_key`]): a copy of the database does not hold them in clear.
//! Answers older than `idempotency_hours` are pruned, oldest first, through a time index.

use std::time::Duration;

use super::App;
use crate::domain::clock::Timestamp;
use crate::error::Result;

pub use crate::storage::records::idempotency::Remembered;

/// Answers removed per write transaction while pruning, so the writer is never held long.
const PRUNE_BATCH: usize = 1_000;

/// How long a claim on a key may outlive its request on a shared store: longer than any request
/// runs (a plugin upload's 110 s), so only a server that died mid-request leaves one behind,
/// and the key frees itself after this.
const CLAIM_LEASE: Duration = Duration::from_secs(300);

impl App {
    /// The answer remembered under `key`, if it is still within the retention.
    pub fn remembered(&self, key: &str) -> Result<Option<Remembered>> {
        let ttl = Duration::from_secs(self.settings.idempotency_hours * 3600);
        let now = self.clock.now();
        let found = self.store.read(|view| Ok(view.remembered(key)?))?;
        Ok(found.filter(|r| r.at.plus(ttl) > now))
    }

    /// Seals and remembers an answer; `key` is also the seal's context.
    pub async fn remember(
        &self,
        key: String,
        status: u16,
        content_type: String,
        body: &[u8],
        request_sha256: String,
    ) -> Result<()> {
        let at = self.clock.now();
        let sealed_body = hex::encode(self.server_key.seal(key.as_bytes(), body)?);
        let record = Remembered {
            status,
            content_type,
            sealed_body,
            request_sha256,
            at,
        };
        self.store
            .write(move |tx| Ok(tx.remember(&key, &record)?))
            .await
    }

    /// Claims `key` for one request on every server sharing the store: whether it was free.
    /// (On the embedded file one process holds the store, and the claim stays in its memory.)
    pub async fn claim_idempotency_key(&self, key: String) -> Result<bool> {
        let now = self.clock.now();
        let until = now.plus(CLAIM_LEASE);
        self.store
            .write(move |tx| Ok(tx.claim_idempotency_key(&key, now, until)?))
            .await
    }

    pub async fn release_idempotency_key(&self, key: String) -> Result<()> {
        self.store
            .write(move |tx| Ok(tx.release_idempotency_key(&key)?))
            .await
    }

    /// The plain body of a remembered answer; `None` if this server's key cannot open it (a
    /// database restored on another server).
    pub fn unseal(&self, key: &str, remembered: &Remembered) -> Option<Vec<u8>> {
        let sealed = hex::decode(&remembered.sealed_body).ok()?;
        self.server_key.open(key.as_bytes(), &sealed)
    }

    /// Removes answers past the retention, and claims whose lease ended without a release (a
    /// server that died mid-request); returns how many answers.
    pub async fn prune_idempotency_once(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut after: Option<String> = None;
        loop {
            let (_, next) = self
                .store
                .write(move |tx| Ok(tx.forget_lapsed_claims(now, after.as_deref(), PRUNE_BATCH)?))
                .await?;
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        self.forget_old_answers().await
    }

    async fn forget_old_answers(&self) -> Result<usize> {
        let age = i64::try_from(self.settings.idempotency_hours.saturating_mul(3_600_000))
            .unwrap_or(i64::MAX);
        let cutoff = Timestamp(self.clock.now().0.saturating_sub(age));
        let mut removed = 0;
        loop {
            let batch = self
                .store
                .write(move |tx| Ok(tx.forget_answers_before(cutoff, PRUNE_BATCH)?))
                .await?;
            removed += batch;
            if batch < PRUNE_BATCH {
                return Ok(removed);
            }
        }
    }

    /// Prunes remembered answers every ten minutes until the task is dropped.
    pub async fn prune_idempotency(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = self.prune_idempotency_once().await {
                tracing::error!(error = %e, "pruning remembered answers failed");
            }
        }
    }
}
