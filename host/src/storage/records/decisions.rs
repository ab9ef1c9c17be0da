//! The decision log: every decision's body in time order, an index of each organization's
//! decisions, and a time index naming each decision's organization so retention trims the
//! oldest first.
//!
//! Why bodies are keyed by time and not by organization: the recorder appends thousands of
//! decisions a batch, about as many organizations. Keyed `(organization, decision)`, each body
//! landed in its own organization's page, so a batch rewrote a page per decision, and the trim
//! after it as many again (at 100,000 organizations the log's writer spent its time there and
//! fell behind the decisions of one busy process: BENCHMARKS.md, "The decision log keyed by
//! time"). Keyed by decision id (UUID v7, so time), a batch's bodies fill the newest pages and
//! the trim empties the oldest; what is still scattered is the organization index, whose
//! entries are keys only. Reading an organization's decisions then costs a lookup per decision
//! (in one statement on PostgreSQL).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::clock::Timestamp;
use crate::domain::ids::{DecisionId, OrgId};
use crate::policy::Hook;
use crate::policy::combine::Decision;
use crate::storage::{StorageError, Tx, View, codec, json_text, tables};

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

    /// The record as [`codec::encode`] writes it, byte for byte, the input written by
    /// [`json_text`] (the input is most of a record, and serde_json's escape most of writing
    /// it). Each field is written in declaration order with serde's own skip rules, and a test
    /// holds this to `codec::encode`; the record is taken apart whole, so a field added above
    /// does not compile here until it is written.
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        fn field(
            out: &mut Vec<u8>,
            name: &[u8],
            value: &impl Serialize,
        ) -> Result<(), StorageError> {
            out.extend_from_slice(name);
            codec::append(out, value)
        }
        let Self {
            id,
            at,
            org_id,
            hook,
            input,
            decision,
            micros,
            error_kinds,
            trace_id,
        } = self;
        let mut out = codec::started(2048);
        field(&mut out, b"{\"id\":", id)?;
        field(&mut out, b",\"at\":", at)?;
        field(&mut out, b",\"org_id\":", org_id)?;
        field(&mut out, b",\"hook\":", hook)?;
        out.extend_from_slice(b",\"input\":");
        json_text::write(&mut out, input);
        field(&mut out, b",\"decision\":", decision)?;
        field(&mut out, b",\"micros\":", micros)?;
        if !error_kinds.is_empty() {
            field(&mut out, b",\"error_kinds\":", error_kinds)?;
        }
        if let Some(trace_id) = trace_id {
            field(&mut out, b",\"trace_id\":", trace_id)?;
        }
        out.push(b'}');
        Ok(out)
    }

    /// An `authorize` decision about `org` at time `n`, for tests of the log.
    #[cfg(test)]
    pub fn stand_in(org: Option<OrgId>, n: i64) -> Self {
        Self {
            id: DecisionId::new(),
            at: Timestamp(n),
            org_id: org,
            hook: Hook::Authorize,
            input: serde_json::json!({"n": n}),
            decision: Decision::stand_in(Hook::Authorize),
            micros: 1,
            error_kinds: Vec::new(),
            trace_id: None,
        }
    }
}

/// `meta` key: how many decisions the log holds, kept with every append and trim, so bounding
/// the log never counts its rows (a length read on redb, but a scan on PostgreSQL).
pub(crate) const DECISION_COUNT_KEY: &str = "decision_count";

impl Tx<'_> {
    fn set_decision_count(&self, count: u64) -> Result<(), StorageError> {
        self.put_meta(DECISION_COUNT_KEY, &count.to_le_bytes())
    }

    /// Appends a batch of decisions: four statements on PostgreSQL, whatever their number. On
    /// the embedded file the bodies and the time index land on their newest pages; only the
    /// organization index, an entry of 32 bytes each, is written where each organization's
    /// entries are.
    pub fn append_decisions<'r>(
        &self,
        records: impl IntoIterator<Item = &'r DecisionRecord> + Clone,
    ) -> Result<(), StorageError> {
        let added = records.clone().into_iter().count() as u64;
        if added == 0 {
            return Ok(());
        }
        let count = self.view().decision_count()?;
        self.set_decision_count(count + added)?;
        let bodies = records
            .clone()
            .into_iter()
            .map(|r| Ok((r.id.key(), r.encode()?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.put_many_encoded(tables::DECISION_BODIES, &bodies)?;
        let by_org: Vec<_> = records
            .clone()
            .into_iter()
            .map(|r| ((r.org_key(), r.id.key()), Vec::new()))
            .collect();
        self.put_pairs_encoded(tables::DECISIONS_BY_ORG, &by_org)?;
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
        let count = view.decision_count()?;
        let excess = usize::try_from(count.saturating_sub(max)).unwrap_or(usize::MAX);
        let (limit, oldest_kept) = match older_than {
            Some(at) => (limit, at.0),
            None => (limit.min(excess), i64::MIN),
        };
        if limit == 0 {
            return Ok(0);
        }
        let mut gone = Vec::new();
        for (id, (org, at)) in view.scan::<(u128, i64)>(tables::DECISION_ORDER, None, limit)? {
            if gone.len() >= excess && at >= oldest_kept {
                break;
            }
            gone.push((org, id));
        }
        // Three statements on PostgreSQL, however many go.
        self.delete_many(tables::DECISION_ORDER, gone.iter().map(|(_, id)| *id))?;
        self.delete_many(tables::DECISION_BODIES, gone.iter().map(|(_, id)| *id))?;
        self.delete_pairs(tables::DECISIONS_BY_ORG, gone.iter().copied())?;
        self.set_decision_count(count.saturating_sub(gone.len() as u64))?;
        Ok(gone.len())
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
        let ids = self.pair_ids(tables::DECISIONS_BY_ORG, org.key(), after, limit)?;
        self.records_in(tables::DECISION_BODIES, &ids)
    }

    /// The newest `limit` decisions about `org`, newest first.
    pub fn newest_decisions(
        &self,
        org: OrgId,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StorageError> {
        let ids = self.pair_ids_newest(tables::DECISIONS_BY_ORG, org.key(), limit)?;
        self.records_in(tables::DECISION_BODIES, &ids)
    }

    /// How many decisions the log holds: the kept count, or (a store from before it was kept)
    /// the rows counted once.
    pub fn decision_count(&self) -> Result<u64, StorageError> {
        match self
            .meta(DECISION_COUNT_KEY)?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        {
            Some(bytes) => Ok(u64::from_le_bytes(bytes)),
            None => self.count(tables::DECISION_ORDER),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_record_is_encoded_byte_for_byte_as_the_codec_encodes_it() {
        let full: DecisionRecord = serde_json::from_value(json!({
            "id": "0193c0de-0000-7000-8000-000000000001",
            "at": "2025-12-06T05:46:40.123Z",
            "org_id": "0193c0de-0000-7000-8000-000000000002",
            "hook": "authorize",
            "input": {"action": "member.invite", "org": {"name": "Acme \"Co\"\n\t\\"},
                      "resource": {"role": "admin", "n": 3, "x": [1.5, null, true]}},
            "decision": {
                "hook": "authorize",
                "answer": {"verdict": "deny", "reason": "no `admin`"},
                "deciding_layer": "platform",
                "layers": [
                    {"layer": "platform", "version": "authorize.rhai@1f2e", "micros": 7,
                     "answer": {"verdict": "allow", "reason": "ok"}},
                    {"layer": "organization", "version": "org.wasm@99", "micros": 9,
                     "answer": {"verdict": "deny"}, "error": "deadline: slow",
                     "fuel": 1200, "logs": ["warn: é"]}
                ]
            },
            "micros": 16,
            "error_kinds": ["deadline"],
            "trace_id": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        }))
        .unwrap();
        let bare = DecisionRecord::stand_in(None, 7);
        for record in [full, bare] {
            assert_eq!(
                String::from_utf8_lossy(&record.encode().unwrap()),
                String::from_utf8_lossy(&codec::encode(&record).unwrap())
            );
        }
    }
}
