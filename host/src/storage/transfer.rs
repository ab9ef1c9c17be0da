//! Copying every record of one store into an empty one, across backends
//! (`tenantry migrate-store`): the embedded file to PostgreSQL when a deployment grows to
//! several servers, and back.
//!
//! Tables are copied entry by entry as stored (bodies are not decoded, so nothing is lost or
//! reinterpreted), a page at a time, each page one durable write on the target; the table lists
//! of `tables.rs` say what there is, so a table added later is copied too. Settings (`meta`)
//! come along except the schema version, which is the target's own. The caller checks the
//! invariants on the target afterwards.

use super::tables::{self, ALL_CHILDREN, ALL_KEYED, ALL_PAIR_RECORDS, ALL_RECORDS, ALL_TERMS};
use super::{Store, migrate};
use crate::error::{Error, Result};

/// Entries per page: one read on the source, one write on the target.
const PAGE: usize = 1_000;

/// Copies everything in `from` into `to`, which must hold no records; answers how many entries
/// each table had.
pub async fn copy(from: &Store, to: &Store) -> Result<Vec<(String, u64)>> {
    let held: u64 = to
        .read(|view| Ok(view.record_counts()?))?
        .iter()
        .map(|(_, n)| n)
        .sum();
    if held > 0 {
        return Err(Error::Conflict(format!(
            "the target already holds {held} records; migrate-store copies into an empty store only"
        )));
    }
    use redb::{MultimapTableHandle, TableHandle};
    let mut copied = Vec::new();
    for &def in ALL_RECORDS {
        let mut n = 0;
        let mut after = None;
        loop {
            let page = from.read(|view| Ok(view.raw_records(def, after, PAGE)?))?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            n += page.len() as u64;
            to.write(move |tx| {
                for (id, body) in &page {
                    tx.put_raw(def, *id, body)?;
                }
                Ok(())
            })
            .await?;
        }
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_PAIR_RECORDS {
        let mut n = 0;
        let mut after = None;
        loop {
            let page = from.read(|view| Ok(view.raw_pairs(def, after, PAGE)?))?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            n += page.len() as u64;
            to.write(move |tx| {
                for (key, body) in &page {
                    tx.put_pair_raw(def, *key, body)?;
                }
                Ok(())
            })
            .await?;
        }
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_CHILDREN {
        let mut n = 0;
        let mut after = None;
        loop {
            let page = from.read(|view| Ok(view.due(def, u128::MAX, after, PAGE)?))?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            n += page.len() as u64;
            to.write(move |tx| {
                for (parent, child) in &page {
                    tx.add_child(def, *parent, *child)?;
                }
                Ok(())
            })
            .await?;
        }
        copied.push((def.name().to_owned(), n));
    }
    for &def in tables::ALL_UNIQUE {
        let mut n = 0;
        let mut after: Option<String> = None;
        loop {
            let page = from.read(|view| Ok(view.raw_unique(def, after.as_deref(), PAGE)?))?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            n += page.len() as u64;
            to.write(move |tx| {
                for (key, id) in &page {
                    tx.set_unique(def, key, *id)?;
                }
                Ok(())
            })
            .await?;
        }
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_TERMS {
        let mut n = 0;
        let mut after: Option<(String, u128)> = None;
        loop {
            let page = from.read(|view| {
                let after = after.as_ref().map(|(key, id)| (key.as_str(), *id));
                Ok(view.terms_after(def, "", after, PAGE)?)
            })?;
            let Some(last) = page.last() else { break };
            after = Some(last.clone());
            n += page.len() as u64;
            to.write(move |tx| {
                for (key, id) in &page {
                    tx.add_term(def, key, *id)?;
                }
                Ok(())
            })
            .await?;
        }
        copied.push((def.name().to_owned(), n));
    }
    for &def in ALL_KEYED.iter().chain([&tables::META]) {
        let is_meta = def.name() == tables::META.name();
        let mut n = 0;
        let mut after: Option<String> = None;
        loop {
            let page = from.read(|view| Ok(view.raw_keyed(def, after.as_deref(), PAGE)?))?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            n += page.len() as u64;
            to.write(move |tx| {
                for (key, body) in &page {
                    if is_meta && key == migrate::VERSION_KEY {
                        continue;
                    }
                    tx.put_bytes(def, key, body)?;
                }
                Ok(())
            })
            .await?;
        }
        copied.push((def.name().to_owned(), n));
    }
    Ok(copied)
}
