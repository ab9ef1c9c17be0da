//! Reads, identical inside a read transaction and inside the write transaction that is
//! about to change the same records (invariants are checked on what the writer sees).

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use redb::{
    Key, MultimapTableDefinition, MultimapTableHandle, ReadOnlyMultimapTable, ReadOnlyTable,
    ReadTransaction, ReadableMultimapTable, ReadableTable, TableDefinition, TableHandle, Value,
    WriteTransaction,
};
use serde::de::DeserializeOwned;

use super::postgres::cached_session::CachedSession;
use super::postgres::session::Session;
use super::tables::{Children, PairRecords, Records, Terms, Unique};
use super::{StorageError, codec, recurring};

/// A consistent snapshot of the database, for reading.
pub enum View<'a> {
    Read(ReadSnapshot<'a>),
    /// What a write transaction reads, its own writes included (sealed: writes go through
    /// [`super::Tx`], which keeps the undo log).
    Write(WriteSnapshot<'a>),
    /// A PostgreSQL read snapshot.
    SqlRead(&'a CachedSession<'a>),
    /// The PostgreSQL write transaction, seeing its own writes.
    SqlWrite(&'a CachedSession<'a>),
}

/// A redb write transaction seen for reading only.
pub struct WriteSnapshot<'a>(pub(super) &'a WriteTransaction);

/// A redb read transaction and the tables opened in it so far, so a request opens each table
/// once however often it reads it. An open looks the table up by name in the file's table of
/// tables and checks its types (2,700 to 3,800 instructions); deciding an authorized read
/// reads the memberships table twice (the caller's role in the organization and in its
/// provider), and a provider acting on a customer reads the organizations table twice too.
/// A kept table holds the transaction's snapshot too, so the snapshot lasts as long as the view.
pub struct ReadSnapshot<'a> {
    txn: &'a ReadTransaction,
    /// Each a `ReadOnlyTable` or `ReadOnlyMultimapTable` of its own types.
    opened: RefCell<Vec<Rc<dyn Any>>>,
}

impl<'a> View<'a> {
    /// The view of a read transaction.
    pub fn read(txn: &'a ReadTransaction) -> Self {
        View::Read(ReadSnapshot {
            txn,
            opened: RefCell::new(Vec::new()),
        })
    }
}

impl ReadSnapshot<'_> {
    /// The table of type `T` called `name` as opened earlier in this transaction, or opened
    /// now by `open`.
    fn reuse<T: 'static>(
        &self,
        name: &str,
        table_name: impl Fn(&T) -> &str,
        open: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<Rc<T>, StorageError> {
        let kept = self
            .opened
            .borrow()
            .iter()
            .find(|table| {
                (***table)
                    .downcast_ref::<T>()
                    .is_some_and(|t| table_name(t) == name)
            })
            .and_then(|table| Rc::clone(table).downcast::<T>().ok());
        if let Some(table) = kept {
            return Ok(table);
        }
        let table = Rc::new(open()?);
        self.opened.borrow_mut().push(table.clone());
        Ok(table)
    }

    fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<Rc<ReadOnlyTable<K, V>>, StorageError> {
        self.reuse(def.name(), ReadOnlyTable::name, || {
            Ok(self.txn.open_table(def)?)
        })
    }

    fn open_multimap_table<K: Key + 'static, V: Key + 'static>(
        &self,
        def: MultimapTableDefinition<'static, K, V>,
    ) -> Result<Rc<ReadOnlyMultimapTable<K, V>>, StorageError> {
        self.reuse(def.name(), ReadOnlyMultimapTable::name, || {
            Ok(self.txn.open_multimap_table(def)?)
        })
    }
}

/// On redb, opens `$def` with the transaction's own table type and runs `$body` on it, so each
/// read below is written once for both transaction kinds; on PostgreSQL runs `$sql` with the
/// session and the table's name.
macro_rules! with_table {
    ($view:expr, $open:ident, $def:expr, |$t:ident| $body:expr, |$s:ident, $name:ident| $sql:expr) => {
        match $view {
            View::Read(snapshot) => {
                let $t = snapshot.$open($def)?;
                $body
            }
            View::Write(WriteSnapshot(txn)) => {
                let $t = txn.$open($def)?;
                $body
            }
            View::SqlRead($s) | View::SqlWrite($s) => {
                let $name = $def.name();
                $sql
            }
        }
    };
}

impl View<'_> {
    /// A read snapshot, as opposed to the view of a write transaction.
    pub fn is_snapshot(&self) -> bool {
        matches!(self, View::Read(_) | View::SqlRead(_))
    }
}

/// The first id a page after the cursor `after` starts at; none once the cursor is the last id.
fn first_id_after(after: Option<u128>) -> Option<u128> {
    match after {
        Some(id) => id.checked_add(1),
        None => Some(0),
    }
}

fn decode_all<K, T: DeserializeOwned>(
    rows: Vec<(K, Vec<u8>)>,
) -> Result<Vec<(K, T)>, StorageError> {
    rows.into_iter()
        .map(|(key, bytes)| Ok((key, codec::decode(&bytes)?)))
        .collect()
}

fn decode_some<T: DeserializeOwned>(bytes: Option<Vec<u8>>) -> Result<Option<T>, StorageError> {
    bytes.map(|b| codec::decode(&b)).transpose()
}

impl View<'_> {
    pub fn record<T: DeserializeOwned>(
        &self,
        def: Records,
        id: u128,
    ) -> Result<Option<T>, StorageError> {
        self.record_decoded(def, id, codec::decode)
    }

    /// [`View::record`] for the records nearly every request reads, decoded once per thread
    /// while their bytes stay the same ([`recurring`]).
    pub fn recurring_record<T: DeserializeOwned + Clone + 'static>(
        &self,
        def: Records,
        id: u128,
    ) -> Result<Option<T>, StorageError> {
        self.record_decoded(def, id, recurring::decode)
    }

    fn record_decoded<T>(
        &self,
        def: Records,
        id: u128,
        decode: fn(&[u8]) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| match t.get(id)? {
                Some(bytes) => Ok(Some(decode(bytes.value())?)),
                None => Ok(None),
            },
            |s, name| s.record(name, id)?.map(|b| decode(&b)).transpose()
        )
    }

    pub fn pair<T: DeserializeOwned>(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
    ) -> Result<Option<T>, StorageError> {
        self.pair_decoded(def, parent, id, codec::decode)
    }

    /// [`View::pair`] decoded as [`View::recurring_record`] is.
    pub fn recurring_pair<T: DeserializeOwned + Clone + 'static>(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
    ) -> Result<Option<T>, StorageError> {
        self.pair_decoded(def, parent, id, recurring::decode)
    }

    fn pair_decoded<T>(
        &self,
        def: PairRecords,
        parent: u128,
        id: u128,
        decode: fn(&[u8]) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| match t.get((parent, id))? {
                Some(bytes) => Ok(Some(decode(bytes.value())?)),
                None => Ok(None),
            },
            |s, name| s.pair(name, parent, id)?.map(|b| decode(&b)).transpose()
        )
    }

    /// Records under `parent` with ids after `after`, in id order, at most `limit`.
    pub fn pairs<T: DeserializeOwned>(
        &self,
        def: PairRecords,
        parent: u128,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<(u128, T)>, StorageError> {
        self.pairs_decoded(def, parent, after, false, limit, codec::decode)
    }

    /// The ids under `parent` after `after`, in id order, at most `limit`: an index kept as
    /// pairs whose bodies are empty (and never decoded).
    pub fn pair_ids(
        &self,
        def: PairRecords,
        parent: u128,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<u128>, StorageError> {
        let pairs = self.pairs_decoded(def, parent, after, false, limit, |_| Ok(()))?;
        Ok(pairs.into_iter().map(|(id, ())| id).collect())
    }

    /// The newest `limit` ids under `parent`, newest first (see [`pair_ids`](Self::pair_ids)).
    pub fn pair_ids_newest(
        &self,
        def: PairRecords,
        parent: u128,
        limit: usize,
    ) -> Result<Vec<u128>, StorageError> {
        let pairs = self.pairs_decoded(def, parent, None, true, limit, |_| Ok(()))?;
        Ok(pairs.into_iter().map(|(id, ())| id).collect())
    }

    /// Up to `limit` pairs under `parent` with ids after `after`, in id order or (with no
    /// cursor) newest first, each body through `decode`.
    fn pairs_decoded<T>(
        &self,
        def: PairRecords,
        parent: u128,
        after: Option<u128>,
        newest_first: bool,
        limit: usize,
        decode: fn(&[u8]) -> Result<T, StorageError>,
    ) -> Result<Vec<(u128, T)>, StorageError> {
        let Some(start) = first_id_after(after) else {
            return Ok(Vec::new());
        };
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let range = t.range((parent, start)..=(parent, u128::MAX))?;
                let entries: Box<dyn Iterator<Item = _>> = if newest_first {
                    Box::new(range.rev())
                } else {
                    Box::new(range)
                };
                entries
                    .take(limit)
                    .map(|entry| {
                        let (key, value) = entry?;
                        Ok((key.value().1, decode(value.value())?))
                    })
                    .collect()
            },
            |s, name| s
                .pairs(name, parent, start, newest_first, limit)?
                .into_iter()
                .map(|(id, bytes)| Ok((id, decode(&bytes)?)))
                .collect()
        )
    }

    /// The records with these ids, in the order asked (one statement on PostgreSQL, past the
    /// record cache: what is read in bulk is not what requests read again); an id without a
    /// record is skipped.
    pub fn records_in<T: DeserializeOwned>(
        &self,
        def: Records,
        ids: &[u128],
    ) -> Result<Vec<T>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(bytes) = t.get(*id)? {
                        out.push(codec::decode(bytes.value())?);
                    }
                }
                Ok(out)
            },
            |s, name| s
                .records_in(name, ids)?
                .iter()
                .map(|bytes| codec::decode(bytes))
                .collect()
        )
    }

    pub fn children(&self, def: Children, parent: u128) -> Result<Vec<u128>, StorageError> {
        with_table!(
            self,
            open_multimap_table,
            def,
            |t| {
                let mut out = Vec::new();
                for child in t.get(parent)? {
                    out.push(child?.value());
                }
                Ok(out)
            },
            |s, name| s.children(name, parent)
        )
    }

    /// How many children `parent` has. On the file this reads no child: redb keeps a value
    /// set's length, so a count that guards a quota costs the same at ten children as at ten
    /// thousand.
    pub fn count_children(&self, def: Children, parent: u128) -> Result<u64, StorageError> {
        with_table!(
            self,
            open_multimap_table,
            def,
            |t| Ok(t.get(parent)?.len()),
            |s, name| Ok(s.children(name, parent)?.len() as u64)
        )
    }

    /// `(parent, child)` entries with parents up to `until` (inclusive) that come after
    /// `after`, in (parent, child) order, at most `limit`: the entries of a deadline index that
    /// are due, read page by page.
    pub fn due(
        &self,
        def: Children,
        until: u128,
        after: Option<(u128, u128)>,
        limit: usize,
    ) -> Result<Vec<(u128, u128)>, StorageError> {
        let start = after.map_or(0, |(parent, _)| parent);
        if start > until {
            return Ok(Vec::new());
        }
        with_table!(
            self,
            open_multimap_table,
            def,
            |t| {
                let mut out = Vec::new();
                'keys: for entry in t.range(start..=until)? {
                    let (parent, children) = entry?;
                    let parent = parent.value();
                    for child in children {
                        let entry = (parent, child?.value());
                        if after.is_some_and(|after| entry <= after) {
                            continue;
                        }
                        out.push(entry);
                        if out.len() >= limit {
                            break 'keys;
                        }
                    }
                }
                Ok(out)
            },
            |s, name| s.due(name, until, after, limit)
        )
    }

    pub fn unique(&self, def: Unique, key: &str) -> Result<Option<u128>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| Ok(t.get(key)?.map(|v| v.value())),
            |s, name| s.unique(name, key)
        )
    }

    /// Ids filed under keys that start with `prefix`, in key order, at most `limit`.
    pub fn prefixed(
        &self,
        def: Terms,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<u128>, StorageError> {
        with_table!(
            self,
            open_multimap_table,
            def,
            |t| {
                let mut out = Vec::new();
                'keys: for entry in t.range(prefix..)? {
                    let (key, ids) = entry?;
                    if !key.value().starts_with(prefix) {
                        break;
                    }
                    for id in ids {
                        out.push(id?.value());
                        if out.len() >= limit {
                            break 'keys;
                        }
                    }
                }
                Ok(out)
            },
            |s, name| Ok(s
                .terms_after(name, prefix, None, limit)?
                .into_iter()
                .map(|(_, id)| id)
                .collect())
        )
    }

    /// `(key, id)` pairs filed under keys that start with `prefix`, in (key, id) order,
    /// strictly after `after`, at most `limit`: a prefix search paged through the index.
    pub fn terms_after(
        &self,
        def: Terms,
        prefix: &str,
        after: Option<(&str, u128)>,
        limit: usize,
    ) -> Result<Vec<(String, u128)>, StorageError> {
        with_table!(
            self,
            open_multimap_table,
            def,
            |t| {
                let mut out = Vec::new();
                let start = match after {
                    Some((key, _)) if key >= prefix => key,
                    _ => prefix,
                };
                'keys: for entry in t.range(start..)? {
                    let (key, ids) = entry?;
                    let key = key.value();
                    if !key.starts_with(prefix) {
                        break;
                    }
                    for id in ids {
                        let id = id?.value();
                        if let Some((after_key, after_id)) = after
                            && (key, id) <= (after_key, after_id)
                        {
                            continue;
                        }
                        out.push((key.to_owned(), id));
                        if out.len() >= limit {
                            break 'keys;
                        }
                    }
                }
                Ok(out)
            },
            |s, name| s.terms_after(name, prefix, after, limit)
        )
    }

    pub fn exact(&self, def: Terms, key: &str) -> Result<Vec<u128>, StorageError> {
        with_table!(
            self,
            open_multimap_table,
            def,
            |t| {
                let mut out = Vec::new();
                for id in t.get(key)? {
                    out.push(id?.value());
                }
                Ok(out)
            },
            |s, name| s.exact(name, key)
        )
    }

    /// Every record of a table, in id order, after `after`, at most `limit`.
    pub fn scan<T: DeserializeOwned>(
        &self,
        def: Records,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<(u128, T)>, StorageError> {
        let Some(start) = first_id_after(after) else {
            return Ok(Vec::new());
        };
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                for entry in t.range(start..)? {
                    let (key, value) = entry?;
                    out.push((key.value(), codec::decode(value.value())?));
                    if out.len() >= limit {
                        break;
                    }
                }
                Ok(out)
            },
            |s, name| decode_all(s.scan(name, start, limit)?)
        )
    }
}

impl View<'_> {
    /// How many records sit under `parent`.
    pub fn count_pairs(&self, def: PairRecords, parent: u128) -> Result<usize, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut n = 0;
                for entry in t.range((parent, 0)..=(parent, u128::MAX))? {
                    entry?;
                    n += 1;
                }
                Ok(n)
            },
            |s, name| s.count_pairs(name, parent)
        )
    }
}

impl View<'_> {
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        with_table!(
            self,
            open_table,
            super::tables::META,
            |t| Ok(t.get(key)?.map(|v| v.value().to_vec())),
            |s, name| s.keyed(name, key)
        )
    }
}

impl View<'_> {
    pub fn keyed<T: DeserializeOwned>(
        &self,
        def: super::tables::Keyed,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| match t.get(key)? {
                Some(bytes) => Ok(Some(codec::decode(bytes.value())?)),
                None => Ok(None),
            },
            |s, name| decode_some(s.keyed(name, key)?)
        )
    }

    /// Every keyed record whose key starts with `prefix`.
    pub fn keyed_prefixed<T: DeserializeOwned>(
        &self,
        def: super::tables::Keyed,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                for entry in t.range(prefix..)? {
                    let (key, value) = entry?;
                    if !key.value().starts_with(prefix) {
                        break;
                    }
                    out.push((key.value().to_owned(), codec::decode(value.value())?));
                }
                Ok(out)
            },
            |s, name| decode_all(s.keyed_prefixed(name, prefix)?)
        )
    }
}

impl View<'_> {
    /// The newest records under `parent`, newest first, at most `limit`.
    pub fn pairs_newest<T: DeserializeOwned>(
        &self,
        def: PairRecords,
        parent: u128,
        limit: usize,
    ) -> Result<Vec<(u128, T)>, StorageError> {
        self.pairs_decoded(def, parent, None, true, limit, codec::decode)
    }

    /// How many records a table holds (single or pair keys).
    pub fn count<K: redb::Key + 'static>(
        &self,
        def: TableDefinition<'static, K, &'static [u8]>,
    ) -> Result<u64, StorageError> {
        use redb::ReadableTableMetadata;
        with_table!(self, open_table, def, |t| Ok(t.len()?), |s, name| s
            .count(name))
    }

    /// Keys of the `(parent, id)` records `is_old` picks, at most `limit`, for records kept in
    /// creation order under each parent (ids are UUID v7): at a parent's first record that is
    /// not old it skips to the next parent, so the cost follows parents plus matches, not the
    /// size of the table.
    pub fn old_pair_keys<T: DeserializeOwned>(
        &self,
        def: PairRecords,
        limit: usize,
        is_old: impl Fn(&T) -> bool,
    ) -> Result<Vec<(u128, u128)>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                let mut parent = 0u128;
                loop {
                    let mut next_parent = None;
                    for entry in t.range((parent, 0)..)? {
                        let (key, value) = entry?;
                        let (p, id) = key.value();
                        if !is_old(&codec::decode::<T>(value.value())?) {
                            next_parent = p.checked_add(1);
                            break;
                        }
                        out.push((p, id));
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                    match next_parent {
                        Some(p) => parent = p,
                        None => return Ok(out),
                    }
                }
            },
            |s, name| old_pair_keys_sql(s, name, limit, &is_old)
        )
    }

    /// How many records every record table holds, by table name.
    pub fn record_counts(&self) -> Result<Vec<(&'static str, u64)>, StorageError> {
        use redb::TableHandle;
        super::tables::ALL_RECORDS
            .iter()
            .map(|def| match self.count(*def) {
                // A file of an older layout read as it is (`tenantry check` on an old backup)
                // lacks the tables added since: it holds none of their records.
                Err(StorageError::Redb(redb::Error::TableDoesNotExist(_))) => Ok((def.name(), 0)),
                n => Ok((def.name(), n?)),
            })
            .collect()
    }
}

impl View<'_> {
    pub fn blob(
        &self,
        def: super::tables::Blobs,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        with_table!(
            self,
            open_table,
            def,
            |t| Ok(t.get(key)?.map(|v| v.value().to_vec())),
            |s, name| s.keyed(name, key)
        )
    }
}

/// [`View::old_pair_keys`] on PostgreSQL: the same walk, a page of rows at a time.
fn old_pair_keys_sql<T: DeserializeOwned>(
    s: &Session,
    name: &str,
    limit: usize,
    is_old: &impl Fn(&T) -> bool,
) -> Result<Vec<(u128, u128)>, StorageError> {
    const PAGE: usize = 256;
    let mut out = Vec::new();
    let mut from = (0u128, 0u128);
    loop {
        let rows = s.pairs_from(name, from, PAGE)?;
        let full = rows.len() == PAGE;
        let mut next = None;
        for ((parent, id), bytes) in rows {
            if !is_old(&codec::decode::<T>(&bytes)?) {
                // The rest of this parent is newer: go on with the next parent.
                next = parent.checked_add(1).map(|p| (p, 0));
                break;
            }
            out.push((parent, id));
            if out.len() >= limit {
                return Ok(out);
            }
            next = match id.checked_add(1) {
                Some(id) => Some((parent, id)),
                None => parent.checked_add(1).map(|p| (p, 0)),
            };
        }
        match next {
            Some(key) if full || key.1 == 0 => from = key,
            _ => return Ok(out),
        }
    }
}

/// Whole tables, entry by entry, as stored (bodies not decoded), in key order after `after`:
/// for copying a store to another backend (`transfer.rs`), never for a request.
impl View<'_> {
    pub fn raw_records(
        &self,
        def: Records,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<(u128, Vec<u8>)>, StorageError> {
        let Some(start) = first_id_after(after) else {
            return Ok(Vec::new());
        };
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                for entry in t.range(start..)?.take(limit) {
                    let (key, value) = entry?;
                    out.push((key.value(), value.value().to_vec()));
                }
                Ok(out)
            },
            |s, name| s.scan(name, start, limit)
        )
    }

    pub fn raw_pairs(
        &self,
        def: PairRecords,
        after: Option<(u128, u128)>,
        limit: usize,
    ) -> Result<Vec<super::postgres::shapes::PairRow>, StorageError> {
        let start = match after {
            None => (0, 0),
            Some((parent, u128::MAX)) => match parent.checked_add(1) {
                Some(parent) => (parent, 0),
                None => return Ok(Vec::new()),
            },
            Some((parent, id)) => (parent, id + 1),
        };
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                for entry in t.range(start..)?.take(limit) {
                    let (key, value) = entry?;
                    out.push((key.value(), value.value().to_vec()));
                }
                Ok(out)
            },
            |s, name| s.pairs_from(name, start, limit)
        )
    }

    pub fn raw_unique(
        &self,
        def: Unique,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u128)>, StorageError> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                for entry in t.range::<&str>((from, Bound::Unbounded))?.take(limit) {
                    let (key, value) = entry?;
                    out.push((key.value().to_owned(), value.value()));
                }
                Ok(out)
            },
            |s, name| s.unique_after(name, after, limit)
        )
    }

    /// Keyed records, blobs and settings (`meta`).
    pub fn raw_keyed(
        &self,
        def: super::tables::Keyed,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        with_table!(
            self,
            open_table,
            def,
            |t| {
                let mut out = Vec::new();
                for entry in t.range::<&str>((from, Bound::Unbounded))?.take(limit) {
                    let (key, value) = entry?;
                    out.push((key.value().to_owned(), value.value().to_vec()));
                }
                Ok(out)
            },
            |s, name| s.keyed_after(name, after, limit)
        )
    }
}
