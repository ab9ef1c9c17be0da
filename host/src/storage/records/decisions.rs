//! The decision log: each organization's decisions in time order, and one time index over all
//! of them so retention trims the oldest first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::clock::Timestamp;
use crate::domain::ids::{DecisionId, OrgId};
use crate::policy::Hook;
use crate::policy::combine::Decision;
use crate::storage::{StorageError, Tx, View, tables};

/// A decision as the log keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionRecord {
    pub id: DecisionId,
    pub at: Timestamp,
    /// The organization acted on; none for account-level decisions.
    pub org_id: Option<OrgId>,
    pub hook: Hook,
    pub input: Value,
    pub decision: Decision,
    /// All layers together.
    pub micros: u64,
    /// The kinds of the layer errors, if any (`operation_limit`, `deadline`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_kinds: Vec<String>,
    /// The W3C trace of the request that asked for it (`traceparent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl DecisionRecord {
    /// The key of its organization in the log; 0 holds decisions about no organization.
    pub fn org_key(&self) -> u128 {
        self.org_id.map_or(0, OrgId::key)
    }
}

impl Tx<'_> {
    /// Appends a batch of decisions: two statements on PostgreSQL, whatever their number.
    pub fn append_decisions<'r>(
        &self,
        records: impl IntoIterator<Item = &'r DecisionRecord> + Clone,
    ) -> Result<(), StorageError> {
        self.put_pairs(
            tables::DECISIONS,
            records
                .clone()
                .into_iter()
                .map(|r| ((r.org_key(), r.id.key()), r)),
        )?;
        self.put_many(
            tables::DECISION_ORDER,
            records
                .into_iter()
                .map(|r| (r.id.key(), (r.org_key(), r.at.0))),
        )
    }

    /// Removes the oldest decisions while more than `max` are kept or (with `older_than`)
    /// they are older than it, at most `limit`; returns how many. Without an age it reads no
    /// more rows than it deletes.
    pub fn trim_decisions(
        &self,
        max: u64,
        older_than: Option<Timestamp>,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let view = self.view();
        let count = view.count(tables::DECISION_ORDER)?;
        let excess = usize::try_from(count.saturating_sub(max)).unwrap_or(usize::MAX);
        let (limit, oldest_kept) = match older_than {
            Some(at) => (limit, at.0),
            None => (limit.min(excess), i64::MIN),
        };
        if limit == 0 {
            return Ok(0);
        }
        let mut n = 0;
        for (id, (org, at)) in view.scan::<(u128, i64)>(tables::DECISION_ORDER, None, limit)? {
            if n >= excess && at >= oldest_kept {
                break;
            }
            self.delete(tables::DECISION_ORDER, id)?;
            self.delete_pair(tables::DECISIONS, org, id)?;
            n += 1;
        }
        Ok(n)
    }
}

impl View<'_> {
    /// Up to `limit` decisions about `org` after `after`, oldest first.
    pub fn decisions_of(
        &self,
        org: OrgId,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StorageError> {
        Ok(self
            .pairs::<DecisionRecord>(tables::DECISIONS, org.key(), after, limit)?
            .into_iter()
            .map(|(_, record)| record)
            .collect())
    }

    /// The newest `limit` decisions about `org`, newest first.
    pub fn newest_decisions(
        &self,
        org: OrgId,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StorageError> {
        Ok(self
            .pairs_newest::<DecisionRecord>(tables::DECISIONS, org.key(), limit)?
            .into_iter()
            .map(|(_, record)| record)
            .collect())
    }

    /// How many decisions the log holds.
    pub fn decision_count(&self) -> Result<u64, StorageError> {
        self.count(tables::DECISION_ORDER)
    }
}
