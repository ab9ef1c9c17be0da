//! Rolling one job back inside a batch's shared redb transaction.
//!
//! The writer runs a whole batch of jobs in one redb write transaction: committing costs more
//! than most jobs (table roots, page allocation, checksums), so one commit per batch instead of
//! one per job is what lets the single writer thread keep up. A job that fails must still leave
//! nothing behind while its neighbours keep their writes, and redb's savepoints cannot do that:
//! they are only taken before a transaction writes. So every write through [`super::Tx`] notes
//! what it replaced here (redb's `insert` and `remove` return the previous value, so noting it
//! costs no extra lookup), and a failed job's notes are applied in reverse.
//!
//! Every table shape of [`super::tables`] has its variant: a write path that bypassed this log
//! would leave a failed job's writes behind, which is why [`super::Tx`] is the only writer.

use std::cell::{Cell, RefCell};

use redb::WriteTransaction;

use super::StorageError;
use super::tables::{Children, Keyed, PairRecords, Records, Terms, Unique};

/// What one write replaced: restoring it undoes the write.
pub(super) enum Prior {
    Record {
        table: Records,
        id: u128,
        was: Option<Vec<u8>>,
    },
    Pair {
        table: PairRecords,
        key: (u128, u128),
        was: Option<Vec<u8>>,
    },
    /// Whether `child` was among `parent`'s children.
    Child {
        table: Children,
        parent: u128,
        child: u128,
        present: bool,
    },
    Unique {
        table: Unique,
        key: String,
        was: Option<u128>,
    },
    /// Whether `id` was among `key`'s ids.
    Term {
        table: Terms,
        key: String,
        id: u128,
        present: bool,
    },
    /// Keyed records, blobs and the file's settings.
    Keyed {
        table: Keyed,
        key: String,
        was: Option<Vec<u8>>,
    },
}

/// The writes of the job running now, oldest first.
#[derive(Default)]
pub struct UndoLog {
    notes: RefCell<Vec<Prior>>,
    /// A write call ended part-way (redb returned an error, or something panicked inside it):
    /// the table may hold a change that has no note, so no rollback can be trusted.
    poisoned: Cell<bool>,
}

impl UndoLog {
    pub(super) fn note(&self, prior: Prior) {
        self.notes.borrow_mut().push(prior);
    }

    /// Whether a write call ended part-way since the batch began.
    pub(super) fn poisoned(&self) -> bool {
        self.poisoned.get()
    }

    /// The job succeeded: its writes stay.
    pub(super) fn keep(&self) {
        self.notes.borrow_mut().clear();
    }

    /// The job failed: restores, newest first, everything its writes replaced.
    pub(super) fn roll_back(&self, txn: &WriteTransaction) -> Result<(), StorageError> {
        let notes = std::mem::take(&mut *self.notes.borrow_mut());
        for prior in notes.into_iter().rev() {
            restore(txn, prior)?;
        }
        Ok(())
    }
}

/// Held across one write call on the file, from its first change to its last note. Dropped
/// without [`Writing::done`] (an error returned part-way, a panic unwinding through it), it
/// poisons the log.
pub(super) struct Writing<'a>(Option<&'a UndoLog>);

impl<'a> Writing<'a> {
    pub(super) fn start(log: Option<&'a UndoLog>) -> Self {
        Self(log)
    }

    pub(super) fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Some(log) = self.0 {
            log.poisoned.set(true);
        }
    }
}

fn restore(txn: &WriteTransaction, prior: Prior) -> Result<(), StorageError> {
    match prior {
        Prior::Record { table, id, was } => {
            let mut table = txn.open_table(table)?;
            match was {
                Some(body) => table.insert(id, body.as_slice())?,
                None => table.remove(id)?,
            };
        }
        Prior::Pair { table, key, was } => {
            let mut table = txn.open_table(table)?;
            match was {
                Some(body) => table.insert(key, body.as_slice())?,
                None => table.remove(key)?,
            };
        }
        Prior::Child {
            table,
            parent,
            child,
            present,
        } => {
            let mut table = txn.open_multimap_table(table)?;
            if present {
                table.insert(parent, child)?;
            } else {
                table.remove(parent, child)?;
            }
        }
        Prior::Unique { table, key, was } => {
            let mut table = txn.open_table(table)?;
            match was {
                Some(id) => table.insert(key.as_str(), id)?,
                None => table.remove(key.as_str())?,
            };
        }
        Prior::Term {
            table,
            key,
            id,
            present,
        } => {
            let mut table = txn.open_multimap_table(table)?;
            if present {
                table.insert(key.as_str(), id)?;
            } else {
                table.remove(key.as_str(), id)?;
            }
        }
        Prior::Keyed { table, key, was } => {
            let mut table = txn.open_table(table)?;
            match was {
                Some(bytes) => table.insert(key.as_str(), bytes.as_slice())?,
                None => table.remove(key.as_str())?,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use redb::{Database, ReadableDatabase, ReadableMultimapTable, ReadableTable};

    use super::super::Tx;
    use super::super::handle::Handle;
    use super::super::tables::{
        MEMBERSHIPS, ORG_BY_NAME, ORG_BY_TENANT, ORGS, POLICY_BINDINGS, USER_ORGS,
    };
    use super::super::writer::{Backend, Batch};

    fn open() -> (tempfile::TempDir, Arc<Handle>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let db = Database::create(&path).unwrap();
        super::super::migrate::prepare(&db).unwrap();
        (dir, Arc::new(Handle::new(&path, 16 << 20, db)))
    }

    /// Every entry of the tables the test writes, one line each.
    fn contents(handle: &Handle) -> Vec<String> {
        let read = handle.current().unwrap().begin_read().unwrap();
        let mut lines = Vec::new();
        for entry in read.open_table(ORGS).unwrap().iter().unwrap() {
            let (k, v) = entry.unwrap();
            lines.push(format!("orgs {} {:?}", k.value(), v.value()));
        }
        for entry in read.open_table(MEMBERSHIPS).unwrap().iter().unwrap() {
            let (k, v) = entry.unwrap();
            lines.push(format!("memberships {:?} {:?}", k.value(), v.value()));
        }
        for entry in read.open_multimap_table(USER_ORGS).unwrap().iter().unwrap() {
            let (k, values) = entry.unwrap();
            for v in values {
                lines.push(format!("user_orgs {} {}", k.value(), v.unwrap().value()));
            }
        }
        for entry in read.open_table(ORG_BY_TENANT).unwrap().iter().unwrap() {
            let (k, v) = entry.unwrap();
            lines.push(format!("org_by_tenant {} {}", k.value(), v.value()));
        }
        for entry in read
            .open_multimap_table(ORG_BY_NAME)
            .unwrap()
            .iter()
            .unwrap()
        {
            let (k, values) = entry.unwrap();
            for v in values {
                lines.push(format!("org_by_name {} {}", k.value(), v.unwrap().value()));
            }
        }
        for entry in read.open_table(POLICY_BINDINGS).unwrap().iter().unwrap() {
            let (k, v) = entry.unwrap();
            lines.push(format!("policy_bindings {} {:?}", k.value(), v.value()));
        }
        lines
    }

    fn run(batch: &mut Box<dyn Batch + '_>, keep: bool, op: impl Fn(&Tx<'_>)) {
        batch
            .job(&mut |tx| {
                op(tx);
                keep
            })
            .unwrap();
    }

    #[test]
    fn a_failed_job_leaves_every_table_shape_as_it_was_and_its_neighbours_keep_theirs() {
        let (_dir, handle) = open();
        let mut seed = handle.begin().unwrap();
        run(&mut seed, true, |tx| {
            tx.put_raw(ORGS, 1, b"one").unwrap();
            tx.put_raw(ORGS, 2, b"two").unwrap();
            tx.put_pair_raw(MEMBERSHIPS, (1, 1), b"member").unwrap();
            tx.add_child(USER_ORGS, 1, 1).unwrap();
            tx.add_child(USER_ORGS, 1, 2).unwrap();
            tx.set_unique(ORG_BY_TENANT, "t1", 1).unwrap();
            tx.add_term(ORG_BY_NAME, "one", 1).unwrap();
            tx.put_bytes(POLICY_BINDINGS, "k", b"v").unwrap();
        });
        seed.commit().unwrap();
        let before = contents(&handle);

        let mut batch = handle.begin().unwrap();
        run(&mut batch, true, |tx| {
            tx.put_raw(ORGS, 10, b"kept").unwrap()
        });
        run(&mut batch, false, |tx| {
            tx.put_raw(ORGS, 1, b"changed").unwrap();
            tx.put_raw(ORGS, 3, b"new").unwrap();
            tx.delete(ORGS, 2).unwrap();
            tx.put_many(ORGS, [(1, "again"), (4, "four")]).unwrap();
            tx.delete_many(ORGS, [1, 10]).unwrap();
            tx.delete_pair(MEMBERSHIPS, 1, 1).unwrap();
            tx.put_pairs(MEMBERSHIPS, [((2, 2), "other")]).unwrap();
            tx.delete_pairs(MEMBERSHIPS, [(2, 2)]).unwrap();
            tx.add_child(USER_ORGS, 1, 3).unwrap();
            tx.add_child(USER_ORGS, 1, 1).unwrap();
            tx.remove_child(USER_ORGS, 1, 2).unwrap();
            tx.remove_children(USER_ORGS, 1).unwrap();
            tx.add_child(USER_ORGS, 7, 7).unwrap();
            tx.set_unique(ORG_BY_TENANT, "t1", 9).unwrap();
            tx.insert_unique(ORG_BY_TENANT, "t2", 2).unwrap();
            tx.remove_unique(ORG_BY_TENANT, "t1").unwrap();
            tx.add_term(ORG_BY_NAME, "one", 5).unwrap();
            tx.remove_term(ORG_BY_NAME, "one", 1).unwrap();
            tx.put_bytes(POLICY_BINDINGS, "k", b"w").unwrap();
            tx.put_bytes(POLICY_BINDINGS, "fresh", b"x").unwrap();
            tx.delete_keyed(POLICY_BINDINGS, "k").unwrap();
        });
        run(&mut batch, true, |tx| {
            tx.put_raw(ORGS, 11, b"also kept").unwrap()
        });
        batch.commit().unwrap();

        let mut after = contents(&handle);
        let neighbours = [
            "orgs 10 [107, 101, 112, 116]",
            "orgs 11 [97, 108, 115, 111, 32, 107, 101, 112, 116]",
        ];
        for line in neighbours {
            let at = after.iter().position(|l| l == line);
            assert!(at.is_some(), "{line} missing from {after:#?}");
            after.remove(at.unwrap());
        }
        assert_eq!(after, before);
    }
}
