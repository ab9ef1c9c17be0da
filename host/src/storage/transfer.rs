//! Copying every record of one store into an empty one, across backends
//! (`tenantry migrate-store`): the embedded file to PostgreSQL when a deployment grows to
//! several servers, and back.
//!
//! Tables are copied entry by entry as stored (bodies are not decoded, so nothing is lost or
//! reinterpreted), a page at a time, each page one durable write on the target; the table lists
//! of `tables.rs` say what there is, so a table added later is copied too; the decision log's
//! tables are read from and written to where each store keeps them ([`Store::holding`]).
//! Settings (`meta`) come along except what is each file's own (the schema version, the file's
//! id, the log's count). The caller checks the invariants on the target afterwards.

use redb::{MultimapTableHandle, TableHandle};

use super::tables::{self, ALL_CHILDREN, ALL_KEYED, ALL_PAIR_RECORDS, ALL_RECORDS, ALL_TERMS};
use super::{StorageError, Store, Tx, View, decision_log};
use crate::error::{Error, Result};

/// Entries per page: one read on the source, one write on the target.
const PAGE: usize = 1_000;

/// Copies everything in `from` into `to`, which must hold no records; answers how many entries
/// each table had.
pub async fn copy(from: &Store, to: &Store) -> Result<Vec<(String, u64)>> {
    let held: u64 = to.record_counts()?.iter().map(|(_, n)| n).sum();
    if held > 0 {
        return Err(Error::Conflict(format!(
            "the target already holds {held} records; migrate-store copies into an empty store only"
        )));
    }
    let mut copied = Vec::new();
    for &def in ALL_RECORDS {
        let n = copy_table(
            from.holding(def.name()),
            to.holding(def.name()),
            |view, after: Option<&u128>| view.raw_records(def, after.copied(), PAGE),
            |(id, _)| *id,
            move |tx: &Tx<'_>, (id, body): &(u128, Vec<u8>)| tx.put_raw(def, *id, body),
        )
        .await?;
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_PAIR_RECORDS {
        let n = copy_table(
            from.holding(def.name()),
            to.holding(def.name()),
            |view, after: Option<&(u128, u128)>| view.raw_pairs(def, after.copied(), PAGE),
            |(key, _)| *key,
            move |tx: &Tx<'_>, (key, body): &((u128, u128), Vec<u8>)| {
                tx.put_pair_raw(def, *key, body)
            },
        )
        .await?;
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_CHILDREN {
        let n = copy_table(
            from,
            to,
            |view, after: Option<&(u128, u128)>| view.due(def, u128::MAX, after.copied(), PAGE),
            |entry| *entry,
            move |tx: &Tx<'_>, (parent, child): &(u128, u128)| tx.add_child(def, *parent, *child),
        )
        .await?;
        copied.push((def.name().to_owned(), n));
    }
    for &def in tables::ALL_UNIQUE {
        let n = copy_table(
            from,
            to,
            |view, after: Option<&String>| view.raw_unique(def, after.map(String::as_str), PAGE),
            |(key, _)| key.clone(),
            move |tx: &Tx<'_>, (key, id): &(String, u128)| tx.set_unique(def, key, *id),
        )
        .await?;
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_TERMS {
        let n = copy_table(
            from,
            to,
            |view, after: Option<&(String, u128)>| {
                view.terms_after(def, "", after.map(|(key, id)| (key.as_str(), *id)), PAGE)
            },
            Clone::clone,
            move |tx: &Tx<'_>, (key, id): &(String, u128)| tx.add_term(def, key, *id),
        )
        .await?;
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_KEYED.iter().chain([&tables::META]) {
        // Settings come along, except what is each file's own: the schema version, the file's
        // id, and the decision log's count, which may live elsewhere there (a log without one
        // counts its rows, and keeps the count from its next append on).
        let is_meta = def.name() == tables::META.name();
        let n = copy_table(
            from,
            to,
            |view, after: Option<&String>| view.raw_keyed(def, after.map(String::as_str), PAGE),
            |(key, _)| key.clone(),
            move |tx: &Tx<'_>, (key, body): &(String, Vec<u8>)| {
                if is_meta && decision_log::is_files_own(key) {
                    return Ok(());
                }
                tx.put_bytes(def, key, body)
            },
        )
        .await?;
        copied.push((def.name().to_owned(), n));
    }
    Ok(copied)
}

/// Copies one table a page at a time: `read` answers the page after a cursor, `cursor` names
/// an entry to go on after, `put` writes one entry on the target. Answers how many there were.
async fn copy_table<E, C>(
    from: &Store,
    to: &Store,
    read: impl Fn(&View<'_>, Option<&C>) -> Result<Vec<E>, StorageError>,
    cursor: impl Fn(&E) -> C,
    put: impl Fn(&Tx<'_>, &E) -> Result<(), StorageError> + Copy + Send + 'static,
) -> Result<u64>
where
    E: Send + 'static,
{
    let mut n = 0;
    let mut after: Option<C> = None;
    loop {
        let page = from.read(|view| Ok(read(view, after.as_ref())?))?;
        let Some(last) = page.last() else {
            return Ok(n);
        };
        after = Some(cursor(last));
        n += page.len() as u64;
        to.write(move |tx| {
            for entry in &page {
                put(tx, entry)?;
            }
            Ok(())
        })
        .await?;
    }
}
