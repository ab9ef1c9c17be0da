//! The upgrade to layout 5: decision bodies keyed by time ([`super::decisions`] says why), out
//! of the table that kept them by organization.
//!
//! A log holds up to a million decisions by default, so the bodies move a page at a time, each
//! page one transaction: a start cut short keeps what moved and moves the rest next time. The
//! decisions' count and time index do not change.

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::storage::tables::{DECISION_BODIES, DECISIONS_BY_ORG, PairRecords};
use crate::storage::{StorageError, Tx};

/// Layout 4's `(org, decision) -> decision record`; only upgrades read it.
pub const DECISIONS_V4: PairRecords = TableDefinition::new("decisions");

/// Decisions rekeyed per transaction.
const PAGE: usize = 4_096;

impl Tx<'_> {
    /// Rekeys up to `limit` of the decisions layout 4 kept by organization; answers how many.
    fn rekey_decisions(&self, limit: usize) -> Result<usize, StorageError> {
        let page = self.view().raw_pairs(DECISIONS_V4, None, limit)?;
        let keys: Vec<(u128, u128)> = page.iter().map(|(key, _)| *key).collect();
        let by_org: Vec<_> = keys.iter().map(|key| (*key, Vec::new())).collect();
        let bodies: Vec<(u128, Vec<u8>)> =
            page.into_iter().map(|((_, id), body)| (id, body)).collect();
        self.put_many_encoded(DECISION_BODIES, &bodies)?;
        self.put_pairs_encoded(DECISIONS_BY_ORG, &by_org)?;
        self.delete_pairs(DECISIONS_V4, keys.iter().copied())?;
        Ok(keys.len())
    }
}

/// Rekeys every decision of layout 4 the file `db` holds, then drops layout 4's table; answers
/// how many moved. A file without the table costs one read transaction.
pub fn rekey_decisions(db: &Database) -> Result<u64, StorageError> {
    match db.begin_read()?.open_table(DECISIONS_V4) {
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        found => drop(found?),
    }
    let mut moved = 0;
    loop {
        let txn = db.begin_write()?;
        let n = Tx::new(&txn).rekey_decisions(PAGE)?;
        if n == 0 {
            txn.delete_table(DECISIONS_V4)?;
            txn.commit()?;
            if moved > 0 {
                tracing::info!(moved, "keyed the decision log's bodies by time");
            }
            return Ok(moved);
        }
        txn.commit()?;
        moved += n as u64;
    }
}

/// Writes `records` as layout 4 kept them, for tests of the upgrade.
#[cfg(test)]
pub fn write_v4(tx: &Tx<'_>, records: &[super::decisions::DecisionRecord]) {
    let rows: Vec<_> = records
        .iter()
        .map(|r| ((r.org_key(), r.id.key()), r.encode().unwrap()))
        .collect();
    tx.put_pairs_encoded(DECISIONS_V4, &rows).unwrap();
    tx.put_many(
        crate::storage::tables::DECISION_ORDER,
        records.iter().map(|r| (r.id.key(), (r.org_key(), r.at.0))),
    )
    .unwrap();
}

/// Asserts what a rekeyed log reads back from `written` (in time order): `oldest_first` is
/// every decision about `a`, oldest first, and `newest_first` every decision about `b`,
/// newest first. For the rekeying tests of both backends.
#[cfg(test)]
pub fn assert_read_back_by_org(
    written: &[super::decisions::DecisionRecord],
    (a, oldest_first): (
        crate::domain::ids::OrgId,
        &[super::decisions::DecisionRecord],
    ),
    (b, newest_first): (
        crate::domain::ids::OrgId,
        &[super::decisions::DecisionRecord],
    ),
) {
    let ids = |records: &[super::decisions::DecisionRecord]| -> Vec<_> {
        records.iter().map(|r| r.id).collect()
    };
    let about = |org| -> Vec<_> {
        written
            .iter()
            .filter(|r| r.org_id == Some(org))
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(oldest_first), about(a), "oldest first");
    let mut b_newest_first = about(b);
    b_newest_first.reverse();
    assert_eq!(ids(newest_first), b_newest_first, "newest first");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::OrgId;
    use crate::storage::records::decisions::DecisionRecord;
    use crate::storage::{View, handle, migrate, read_from, tables};

    /// More than a page of layout 4's decisions, about two organizations, read back by
    /// organization in both orders and counted, with layout 4's table gone.
    #[test]
    fn decisions_kept_by_organization_are_rekeyed_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = handle::open(&dir.path().join("t.redb"), 4 << 20).unwrap();
        migrate::prepare(&db).unwrap();
        let (a, b) = (OrgId::new(), OrgId::new());
        let records: Vec<DecisionRecord> = (0..PAGE + 10)
            .map(|i| DecisionRecord::stand_in(Some(if i % 3 == 0 { a } else { b }), i as i64))
            .collect();
        let txn = db.begin_write().unwrap();
        write_v4(&Tx::new(&txn), &records);
        txn.commit().unwrap();

        assert_eq!(rekey_decisions(&db).unwrap(), records.len() as u64);

        let (of_a, newest_b, rows) = read_from(&db, |view: &View<'_>| {
            Ok((
                view.decisions_of(a, None, usize::MAX)?,
                view.newest_decisions(b, usize::MAX)?,
                (
                    view.count(DECISION_BODIES)?,
                    view.count(DECISIONS_BY_ORG)?,
                    view.count(tables::DECISION_ORDER)?,
                ),
            ))
        })
        .unwrap();
        assert_read_back_by_org(&records, (a, &of_a), (b, &newest_b));
        let n = records.len() as u64;
        assert_eq!(
            rows,
            (n, n, n),
            "every body, index entry and time entry, once"
        );
        let txn = db.begin_read().unwrap();
        assert!(
            matches!(
                txn.open_table(DECISIONS_V4),
                Err(redb::TableError::TableDoesNotExist(_))
            ),
            "layout 4's table is dropped"
        );
        drop(txn);
        assert_eq!(rekey_decisions(&db).unwrap(), 0, "nothing left to rekey");
    }

    /// A file of layout 4 read as it is (`tenantry check` on an older backup, which opens it
    /// read-only) has no table of bodies: it is counted as holding none, not refused.
    #[test]
    fn an_older_file_read_as_it_is_counts_no_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let db = handle::open(&dir.path().join("t.redb"), 4 << 20).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::ORGS).unwrap();
        txn.commit().unwrap();

        let counts = read_from(&db, |view: &View<'_>| Ok(view.record_counts()?)).unwrap();

        assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    }
}
