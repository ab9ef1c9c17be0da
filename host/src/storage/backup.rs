//! Consistent copies of the store while it serves, and read-only opening of such a copy.
//!
//! A backup is every table as of one read snapshot, written to a new redb file: the snapshot
//! sees every commit that was acknowledged before it began (an answer is only sent after its
//! batch is durable) and none that came after, so the copy is a state the server really had.
//! Writers keep going while it is made; redb's MVCC keeps the snapshot's pages alive. The
//! decision log, kept in a file of its own ([`super::decision_log`]), is copied into the same
//! backup file.

use std::path::Path;

use redb::{
    Database, Key, MultimapTableDefinition, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableMultimapTable, ReadableTable, TableDefinition, TableError, Value, WriteTransaction,
};

use super::{StorageError, Store, View, tables};

impl Store {
    /// Writes the current snapshot to a new database file at `path` (which must not exist)
    /// and makes it durable. Blocking: call it off the async workers.
    pub fn backup_to(&self, path: &Path) -> Result<(), StorageError> {
        if path.exists() {
            return Err(StorageError::Internal(format!(
                "`{}` already exists; a backup never overwrites a file",
                path.display()
            )));
        }
        let super::Backend::File(db) = &self.backend else {
            return Err(StorageError::Internal(
                "a PostgreSQL store is backed up with the database's own tools (pg_dump); see the README".into(),
            ));
        };
        let snapshot = db.current()?.begin_read()?;
        // The decision log's snapshot begins at once too (a log is written after the decisions
        // it keeps anyway, so a moment apart is no inconsistency).
        let log_snapshot = match self.log.as_deref().map(|log| &log.backend) {
            Some(super::Backend::File(log)) => Some(log.current()?.begin_read()?),
            _ => None,
        };
        let copy = Database::create(path)?;
        let txn = copy.begin_write()?;
        copy_table(&snapshot, &txn, tables::META)?;
        for def in tables::ALL_KEYED {
            copy_table(&snapshot, &txn, *def)?;
        }
        for def in tables::ALL_RECORDS {
            copy_table(&snapshot, &txn, *def)?;
        }
        for def in tables::ALL_PAIR_RECORDS {
            copy_table(&snapshot, &txn, *def)?;
        }
        for def in tables::ALL_UNIQUE {
            copy_table(&snapshot, &txn, *def)?;
        }
        for def in tables::ALL_CHILDREN {
            copy_multimap(&snapshot, &txn, *def)?;
        }
        for def in tables::ALL_TERMS {
            copy_multimap(&snapshot, &txn, *def)?;
        }
        // The decision log comes along from its own file; a restored copy moves it back out
        // at start. Its count is not copied (a file without one counts its rows), and the copy
        // is a domain file of its own, so a restore is told from the file it replaces.
        if let Some(log) = &log_snapshot {
            copy_table(log, &txn, tables::DECISION_ORDER)?;
            copy_table(log, &txn, tables::DECISION_BODIES)?;
            copy_table(log, &txn, tables::DECISIONS_BY_ORG)?;
        }
        super::decision_log::give_new_id(&txn)?;
        // The default durability: the commit returns once the copy is on disk.
        txn.commit()?;
        Ok(())
    }
}

fn copy_table<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: TableDefinition<'static, K, V>,
) -> Result<(), StorageError> {
    let source = match from.open_table(def) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.open_table(def)?;
    for entry in source.iter()? {
        let (key, value) = entry?;
        target.insert(key.value(), value.value())?;
    }
    Ok(())
}

fn copy_multimap<K: Key + 'static, V: Key + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: MultimapTableDefinition<'static, K, V>,
) -> Result<(), StorageError> {
    let source = match from.open_multimap_table(def) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.open_multimap_table(def)?;
    for entry in source.iter()? {
        let (key, values) = entry?;
        for value in values {
            target.insert(key.value(), value?.value())?;
        }
    }
    Ok(())
}

/// A database file opened read-only: a backup being verified, or a copy being inspected.
/// Nothing is migrated or repaired; a file that needs repair is refused.
pub struct Snapshot {
    db: ReadOnlyDatabase,
}

impl Snapshot {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Ok(Self {
            db: ReadOnlyDatabase::open(path)?,
        })
    }

    /// Runs `f` on the file's state.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
    ) -> Result<T, crate::Error> {
        super::read_from(&self.db, f)
    }
}
