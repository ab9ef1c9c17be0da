//! Writes. Only the group-commit writer hands out a [`Tx`]; every cross-record invariant is
//! checked by the closure that holds it, so nothing can interleave between check and write.

use redb::WriteTransaction;
use serde::Serialize;

use super::tables::{Children, PairRecords, Records, Terms, Unique};
use super::view::View;
use super::{StorageError, codec};

pub struct Tx<'a> {
    txn: &'a WriteTransaction,
}

impl<'a> Tx<'a> {
    pub(super) fn new(txn: &'a WriteTransaction) -> Self {
        Self { txn }
    }

    /// Pages allocated and bytes stored in the whole file. Walks every table: for diagnostics
    /// and the soak harness, not for a request.
    pub fn space(&self) -> Result<redb::DatabaseStats, StorageError> {
        Ok(self.txn.stats()?)
    }

    /// Reads see this transaction's own earlier writes.
    pub fn view(&self) -> View<'a> {
        View::Write(self.txn)
    }

    pub fn put<T: Serialize>(
        &self,
        def: Records,
        id: u128,
        record: &T,
    ) -> Result<(), StorageError> {
        self.txn
            .open_table(def)?
            .insert(id, codec::encode(record)?.as_slice())?;
        Ok(())
    }

    pub fn delete(&self, def: Records, id: u128) -> Result<(), StorageError> {
        self.txn.open_table(def)?.remove(id)?;
        Ok(())
    }

    pub fn put_pair<T: Serialize>(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
        record: &T,
    ) -> Result<(), StorageError> {
        self.txn
            .open_table(def)?
            .insert((parent, id), codec::encode(record)?.as_slice())?;
        Ok(())
    }

    pub fn delete_pair(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
    ) -> Result<(), StorageError> {
        self.txn.open_table(def)?.remove((parent, id))?;
        Ok(())
    }

    pub fn add_child(&self, def: Children, parent: u128, child: u128) -> Result<(), StorageError> {
        self.txn.open_multimap_table(def)?.insert(parent, child)?;
        Ok(())
    }

    pub fn remove_child(
        &self,
        def: Children,
        parent: u128,
        child: u128,
    ) -> Result<(), StorageError> {
        self.txn.open_multimap_table(def)?.remove(parent, child)?;
        Ok(())
    }

    pub fn remove_children(&self, def: Children, parent: u128) -> Result<(), StorageError> {
        self.txn.open_multimap_table(def)?.remove_all(parent)?;
        Ok(())
    }

    pub fn set_unique(&self, def: Unique, key: &str, id: u128) -> Result<(), StorageError> {
        self.txn.open_table(def)?.insert(key, id)?;
        Ok(())
    }

    pub fn remove_unique(&self, def: Unique, key: &str) -> Result<(), StorageError> {
        self.txn.open_table(def)?.remove(key)?;
        Ok(())
    }

    pub fn add_term(&self, def: Terms, key: &str, id: u128) -> Result<(), StorageError> {
        self.txn.open_multimap_table(def)?.insert(key, id)?;
        Ok(())
    }

    pub fn remove_term(&self, def: Terms, key: &str, id: u128) -> Result<(), StorageError> {
        self.txn.open_multimap_table(def)?.remove(key, id)?;
        Ok(())
    }

    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.txn
            .open_table(super::tables::META)?
            .insert(key, value)?;
        Ok(())
    }

    pub fn put_keyed<T: Serialize>(
        &self,
        def: super::tables::Keyed,
        key: &str,
        record: &T,
    ) -> Result<(), StorageError> {
        self.txn
            .open_table(def)?
            .insert(key, codec::encode(record)?.as_slice())?;
        Ok(())
    }

    pub fn put_blob(
        &self,
        def: super::tables::Blobs,
        key: &str,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        self.txn.open_table(def)?.insert(key, bytes)?;
        Ok(())
    }

    pub fn delete_keyed(&self, def: super::tables::Keyed, key: &str) -> Result<(), StorageError> {
        self.txn.open_table(def)?.remove(key)?;
        Ok(())
    }
}
