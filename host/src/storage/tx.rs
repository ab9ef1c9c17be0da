//! Writes. Only the group-commit writer hands out a [`Tx`]; every cross-record invariant is
//! checked by the closure that holds it, so nothing can interleave between check and write.

use redb::{
    MultimapTableHandle, ReadableMultimapTable, ReadableTable, TableHandle, WriteTransaction,
};
use serde::Serialize;

use super::postgres::cache::Key;
use super::postgres::cached_session::CachedSession;
use super::tables::{Children, PairRecords, Records, Terms, Unique};
use super::undo::{Prior, UndoLog, Writing};
use super::view::{View, WriteSnapshot};
use super::{StorageError, codec};

/// One write transaction, on the embedded file or on PostgreSQL.
///
/// On the file, a job shares its transaction with the rest of its batch, and every write notes
/// what it replaced in the [`UndoLog`] so a failed job can be rolled back alone.
pub enum Tx<'a> {
    File(FileTxn<'a>),
    Sql(&'a CachedSession<'a>),
}

/// The redb transaction behind a [`Tx`], out of reach outside `storage`: a use case that could
/// write to it directly would bypass the undo log, and a failed job would leave that write
/// behind in its batch.
pub struct FileTxn<'a> {
    pub(super) txn: &'a WriteTransaction,
    pub(super) undo: Option<&'a UndoLog>,
}

impl<'a> Tx<'a> {
    /// A transaction of its own (migrations): a failure aborts all of it, nothing to undo.
    pub(super) fn new(txn: &'a WriteTransaction) -> Self {
        Self::File(FileTxn { txn, undo: None })
    }

    /// One job of a batch sharing `txn`: its writes are noted in `undo`.
    pub(super) fn undoable(txn: &'a WriteTransaction, undo: &'a UndoLog) -> Self {
        Self::File(FileTxn {
            txn,
            undo: Some(undo),
        })
    }

    /// Runs one write call on the file, handing `write` the way to note what each change
    /// replaced. Ended by an error or a panic before `write` returns, the call poisons the log
    /// (a change may have no note), see [`Writing`].
    fn logged(
        undo: Option<&UndoLog>,
        write: impl FnOnce(&dyn Fn(Prior)) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let writing = Writing::start(undo);
        write(&|prior| {
            if let Some(undo) = undo {
                undo.note(prior);
            }
        })?;
        writing.done();
        Ok(())
    }

    /// Pages allocated and bytes stored in the whole file. Walks every table: for diagnostics
    /// and the soak harness, not for a request. The embedded store only.
    pub fn space(&self) -> Result<redb::DatabaseStats, StorageError> {
        match self {
            Self::File(FileTxn { txn, .. }) => Ok(txn.stats()?),
            Self::Sql(_) => Err(StorageError::Internal(
                "file statistics exist only for the embedded store".into(),
            )),
        }
    }

    /// Reads see this transaction's own earlier writes.
    pub fn view(&self) -> View<'a> {
        match self {
            Self::File(FileTxn { txn, .. }) => View::Write(WriteSnapshot(txn)),
            Self::Sql(session) => View::SqlWrite(session),
        }
    }

    pub fn put<T: Serialize>(
        &self,
        def: Records,
        id: u128,
        record: &T,
    ) -> Result<(), StorageError> {
        self.put_raw(def, id, &codec::encode(record)?)
    }

    pub fn delete(&self, def: Records, id: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn.open_table(def)?.remove(id)?.map(|g| g.value().to_vec());
                    note(Prior::Record {
                        table: def,
                        id,
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Id(id)])
                .delete(def.name(), id)?,
        }
        Ok(())
    }

    pub fn put_pair<T: Serialize>(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
        record: &T,
    ) -> Result<(), StorageError> {
        self.put_pair_raw(def, (parent, id), &codec::encode(record)?)
    }

    pub fn delete_pair(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
    ) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let key = (parent, id);
                    let was = txn
                        .open_table(def)?
                        .remove(key)?
                        .map(|g| g.value().to_vec());
                    note(Prior::Pair {
                        table: def,
                        key,
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Pair(parent, id)])
                .delete_pair(def.name(), parent, id)?,
        }
        Ok(())
    }

    pub fn add_child(&self, def: Children, parent: u128, child: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let present = txn.open_multimap_table(def)?.insert(parent, child)?;
                    note(Prior::Child {
                        table: def,
                        parent,
                        child,
                        present,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => {
                s.changing(def.name(), [Key::Id(parent)])
                    .add_child(def.name(), parent, child)?
            }
        }
        Ok(())
    }

    pub fn remove_child(
        &self,
        def: Children,
        parent: u128,
        child: u128,
    ) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let present = txn.open_multimap_table(def)?.remove(parent, child)?;
                    note(Prior::Child {
                        table: def,
                        parent,
                        child,
                        present,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => {
                s.changing(def.name(), [Key::Id(parent)])
                    .remove_child(def.name(), parent, child)?
            }
        }
        Ok(())
    }

    pub fn remove_children(&self, def: Children, parent: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let mut table = txn.open_multimap_table(def)?;
                    // Noted before anything is removed: `remove_all` takes the key out first.
                    let children = table
                        .get(parent)?
                        .map(|child| child.map(|c| c.value()))
                        .collect::<Result<Vec<u128>, _>>()?;
                    for child in children {
                        note(Prior::Child {
                            table: def,
                            parent,
                            child,
                            present: true,
                        });
                    }
                    table.remove_all(parent)?;
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Id(parent)])
                .remove_children(def.name(), parent)?,
        }
        Ok(())
    }

    pub fn set_unique(&self, def: Unique, key: &str, id: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn.open_table(def)?.insert(key, id)?.map(|g| g.value());
                    note(Prior::Unique {
                        table: def,
                        key: key.to_owned(),
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .set_unique(def.name(), key, id)?,
        }
        Ok(())
    }

    /// Stores `key -> id` in a unique index where `key` must be new: the digest of a fresh
    /// secret. The file checks first; PostgreSQL lets the table's primary key refuse a taken
    /// key when the write is sent, which fails the write batch (for a collision of 256 random
    /// bits), instead of a read under the write lock for every new secret.
    pub fn insert_unique(&self, def: Unique, key: &str, id: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                let mut table = txn.open_table(def)?;
                if table.get(key)?.is_some() {
                    return Err(StorageError::Duplicate(format!(
                        "`{}` already holds this key",
                        def.name()
                    )));
                }
                Self::logged(*undo, |note| {
                    table.insert(key, id)?;
                    note(Prior::Unique {
                        table: def,
                        key: key.to_owned(),
                        was: None,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .insert_unique(def.name(), key, id)?,
        }
        Ok(())
    }

    pub fn remove_unique(&self, def: Unique, key: &str) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn.open_table(def)?.remove(key)?.map(|g| g.value());
                    note(Prior::Unique {
                        table: def,
                        key: key.to_owned(),
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .remove_key(def.name(), key)?,
        }
        Ok(())
    }

    pub fn add_term(&self, def: Terms, key: &str, id: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let present = txn.open_multimap_table(def)?.insert(key, id)?;
                    note(Prior::Term {
                        table: def,
                        key: key.to_owned(),
                        id,
                        present,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .add_term(def.name(), key, id)?,
        }
        Ok(())
    }

    pub fn remove_term(&self, def: Terms, key: &str, id: u128) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let present = txn.open_multimap_table(def)?.remove(key, id)?;
                    note(Prior::Term {
                        table: def,
                        key: key.to_owned(),
                        id,
                        present,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .remove_term(def.name(), key, id)?,
        }
        Ok(())
    }

    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.put_bytes(super::tables::META, key, value)
    }

    pub fn put_keyed<T: Serialize>(
        &self,
        def: super::tables::Keyed,
        key: &str,
        record: &T,
    ) -> Result<(), StorageError> {
        self.put_bytes(def, key, &codec::encode(record)?)
    }

    pub fn put_blob(
        &self,
        def: super::tables::Blobs,
        key: &str,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        self.put_bytes(def, key, bytes)
    }

    /// A record whose body is already encoded (copied from another store).
    pub fn put_raw(&self, def: Records, id: u128, body: &[u8]) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn
                        .open_table(def)?
                        .insert(id, body)?
                        .map(|g| g.value().to_vec());
                    note(Prior::Record {
                        table: def,
                        id,
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Id(id)])
                .put(def.name(), id, body)?,
        }
        Ok(())
    }

    /// A pair record whose body is already encoded (copied from another store).
    pub fn put_pair_raw(
        &self,
        def: PairRecords,
        key: (u128, u128),
        body: &[u8],
    ) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn
                        .open_table(def)?
                        .insert(key, body)?
                        .map(|g| g.value().to_vec());
                    note(Prior::Pair {
                        table: def,
                        key,
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s.changing(def.name(), [Key::Pair(key.0, key.1)]).put_pair(
                def.name(),
                key.0,
                key.1,
                body,
            )?,
        }
        Ok(())
    }

    /// Many records at once: on PostgreSQL one statement for all of them (journals and the
    /// decision log are appended in batches).
    pub fn put_many<T: Serialize>(
        &self,
        def: Records,
        records: impl IntoIterator<Item = (u128, T)>,
    ) -> Result<(), StorageError> {
        let rows = records
            .into_iter()
            .map(|(id, record)| Ok((id, codec::encode(&record)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.put_many_encoded(def, &rows)
    }

    /// [`Tx::put_many`] for records already encoded (as [`codec::encode`] would).
    pub fn put_many_encoded(
        &self,
        def: Records,
        rows: &[(u128, Vec<u8>)],
    ) -> Result<(), StorageError> {
        match self {
            // The table opened once for the batch: opening costs more than an insert.
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let mut table = txn.open_table(def)?;
                    for (id, body) in rows {
                        let was = table
                            .insert(*id, body.as_slice())?
                            .map(|g| g.value().to_vec());
                        note(Prior::Record {
                            table: def,
                            id: *id,
                            was,
                        });
                    }
                    Ok(())
                })?;
                Ok(())
            }
            Self::Sql(s) => s
                .changing(def.name(), rows.iter().map(|(id, _)| Key::Id(*id)))
                .put_many(def.name(), rows),
        }
    }

    /// Many pair records at once (see [`Tx::put_many`]).
    pub fn put_pairs<T: Serialize>(
        &self,
        def: PairRecords,
        records: impl IntoIterator<Item = ((u128, u128), T)>,
    ) -> Result<(), StorageError> {
        let rows = records
            .into_iter()
            .map(|(key, record)| Ok((key, codec::encode(&record)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.put_pairs_encoded(def, &rows)
    }

    /// [`Tx::put_pairs`] for records already encoded (as [`codec::encode`] would).
    pub fn put_pairs_encoded(
        &self,
        def: PairRecords,
        rows: &[((u128, u128), Vec<u8>)],
    ) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let mut table = txn.open_table(def)?;
                    for (key, body) in rows {
                        let was = table
                            .insert(*key, body.as_slice())?
                            .map(|g| g.value().to_vec());
                        note(Prior::Pair {
                            table: def,
                            key: *key,
                            was,
                        });
                    }
                    Ok(())
                })?;
                Ok(())
            }
            Self::Sql(s) => s
                .changing(
                    def.name(),
                    rows.iter().map(|((parent, id), _)| Key::Pair(*parent, *id)),
                )
                .put_pairs(def.name(), rows),
        }
    }

    /// Removes many records at once (one statement on PostgreSQL).
    pub fn delete_many(
        &self,
        def: Records,
        ids: impl IntoIterator<Item = u128>,
    ) -> Result<(), StorageError> {
        let ids: Vec<u128> = ids.into_iter().collect();
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let mut table = txn.open_table(def)?;
                    for id in &ids {
                        let was = table.remove(*id)?.map(|g| g.value().to_vec());
                        note(Prior::Record {
                            table: def,
                            id: *id,
                            was,
                        });
                    }
                    Ok(())
                })?;
                Ok(())
            }
            Self::Sql(s) => s
                .changing(def.name(), ids.iter().map(|id| Key::Id(*id)))
                .delete_many(def.name(), &ids),
        }
    }

    /// Removes many pair records at once (one statement on PostgreSQL).
    pub fn delete_pairs(
        &self,
        def: PairRecords,
        keys: impl IntoIterator<Item = (u128, u128)>,
    ) -> Result<(), StorageError> {
        let keys: Vec<(u128, u128)> = keys.into_iter().collect();
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let mut table = txn.open_table(def)?;
                    for key in &keys {
                        let was = table.remove(*key)?.map(|g| g.value().to_vec());
                        note(Prior::Pair {
                            table: def,
                            key: *key,
                            was,
                        });
                    }
                    Ok(())
                })?;
                Ok(())
            }
            Self::Sql(s) => s
                .changing(
                    def.name(),
                    keys.iter().map(|(parent, id)| Key::Pair(*parent, *id)),
                )
                .delete_pairs(def.name(), &keys),
        }
    }

    /// A keyed record, blob or setting as stored (copied from another store).
    pub fn put_bytes(
        &self,
        def: super::tables::Keyed,
        key: &str,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn
                        .open_table(def)?
                        .insert(key, bytes)?
                        .map(|g| g.value().to_vec());
                    note(Prior::Keyed {
                        table: def,
                        key: key.to_owned(),
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .put_keyed(def.name(), key, bytes)?,
        }
        Ok(())
    }

    pub fn delete_keyed(&self, def: super::tables::Keyed, key: &str) -> Result<(), StorageError> {
        match self {
            Self::File(FileTxn { txn, undo }) => {
                Self::logged(*undo, |note| {
                    let was = txn
                        .open_table(def)?
                        .remove(key)?
                        .map(|g| g.value().to_vec());
                    note(Prior::Keyed {
                        table: def,
                        key: key.to_owned(),
                        was,
                    });
                    Ok(())
                })?;
            }
            Self::Sql(s) => s
                .changing(def.name(), [Key::Text(key.to_owned())])
                .remove_key(def.name(), key)?,
        }
        Ok(())
    }
}
