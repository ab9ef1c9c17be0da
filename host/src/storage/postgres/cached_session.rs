//! A connection seen through the [`Cache`]: what [`crate::storage::View`] and
//! [`crate::storage::Tx`] hold on PostgreSQL.
//!
//! Point lookups are answered from the cache when the table has not changed since the
//! snapshot's clock, and what the database answers is kept for the next reader. Inside a write
//! batch, a key the batch has written is always read from the database (the batch sees its own
//! uncommitted writes there, which no other reader may); [`CachedSession::changing`] records it.
//! Everything else (ranges, pages, counts, writes) goes straight to the [`Session`] this derefs to.

use std::cell::RefCell;

use super::cache::{Cache, Found, Key, Seen, Written};
use super::session::Session;
use crate::storage::StorageError;

pub struct CachedSession<'a> {
    session: &'a Session,
    cache: &'a Cache,
    seen: Seen,
    /// In a write batch: the keys it has written so far, per table.
    written: Option<&'a RefCell<Written>>,
}

impl std::ops::Deref for CachedSession<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
    }
}

impl<'a> CachedSession<'a> {
    /// A read snapshot at `seen`.
    pub fn reading(session: &'a Session, cache: &'a Cache, seen: Seen) -> Self {
        Self {
            session,
            cache,
            seen,
            written: None,
        }
    }

    /// A write batch holding the write lock, at `seen` (every commit so far).
    pub fn writing(
        session: &'a Session,
        cache: &'a Cache,
        seen: Seen,
        written: &'a RefCell<Written>,
    ) -> Self {
        Self {
            session,
            cache,
            seen,
            written: Some(written),
        }
    }

    /// The session, for a write to `keys` of `table`: from now on the batch reads those keys
    /// from the database, and its commit stamps the table as changed.
    pub fn changing(&self, table: &str, keys: impl IntoIterator<Item = Key>) -> &Session {
        if let Some(written) = self.written {
            let mut written = written.borrow_mut();
            match written.get_mut(table) {
                Some(known) => known.extend(keys),
                None => {
                    written.insert(table.to_owned(), keys.into_iter().collect());
                }
            }
        }
        self.session
    }

    fn cacheable(&self, table: &str, key: &Key) -> bool {
        self.written.is_none_or(|written| {
            written
                .borrow()
                .get(table)
                .is_none_or(|keys| !keys.contains(key))
        })
    }

    /// `found` from the cache, or `load` from the database and kept.
    fn lookup(
        &self,
        table: &str,
        key: Key,
        load: impl FnOnce(&Session) -> Result<Found, StorageError>,
    ) -> Result<Found, StorageError> {
        if !self.cacheable(table, &key) {
            return load(self.session);
        }
        if let Some(found) = self.cache.get(self.seen, table, &key) {
            return Ok(found);
        }
        let found = load(self.session)?;
        self.cache.put(self.seen, table, key, found.clone());
        Ok(found)
    }

    pub fn record(&self, table: &str, id: u128) -> Result<Option<Vec<u8>>, StorageError> {
        body(
            table,
            self.lookup(table, Key::Id(id), |s| {
                Ok(Found::Body(s.record(table, id)?))
            })?,
        )
    }

    pub fn pair(
        &self,
        table: &str,
        parent: u128,
        id: u128,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        body(
            table,
            self.lookup(table, Key::Pair(parent, id), |s| {
                Ok(Found::Body(s.pair(table, parent, id)?))
            })?,
        )
    }

    pub fn keyed(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        body(
            table,
            self.lookup(table, Key::Text(key.to_owned()), |s| {
                Ok(Found::Body(s.keyed(table, key)?))
            })?,
        )
    }

    pub fn unique(&self, table: &str, key: &str) -> Result<Option<u128>, StorageError> {
        match self.lookup(table, Key::Text(key.to_owned()), |s| {
            Ok(Found::Id(s.unique(table, key)?))
        })? {
            Found::Id(id) => Ok(id),
            _ => Err(mismatch(table)),
        }
    }

    pub fn children(&self, table: &str, parent: u128) -> Result<Vec<u128>, StorageError> {
        ids(
            table,
            self.lookup(table, Key::Id(parent), |s| {
                Ok(Found::Ids(s.children(table, parent)?))
            })?,
        )
    }

    pub fn exact(&self, table: &str, key: &str) -> Result<Vec<u128>, StorageError> {
        ids(
            table,
            self.lookup(table, Key::Text(key.to_owned()), |s| {
                Ok(Found::Ids(s.exact(table, key)?))
            })?,
        )
    }
}

fn body(table: &str, found: Found) -> Result<Option<Vec<u8>>, StorageError> {
    match found {
        Found::Body(body) => Ok(body),
        _ => Err(mismatch(table)),
    }
}

fn ids(table: &str, found: Found) -> Result<Vec<u128>, StorageError> {
    match found {
        Found::Ids(ids) => Ok(ids),
        _ => Err(mismatch(table)),
    }
}

fn mismatch(table: &str) -> StorageError {
    StorageError::Internal(format!(
        "the record cache holds another kind of answer for a key of {table}"
    ))
}
