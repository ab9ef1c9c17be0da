//! The decision log's own file, beside the domain's (`tenantry.decisions.redb` next to
//! `tenantry.redb`), with its own page cache, writer and commits.
//!
//! Why a file of its own: the log is written as relaxed commits (a second may be lost in a
//! crash, no fsync of its own), and redb keeps a relaxed commit's pages in its write buffer
//! until the next durable commit. In one shared file those pages sat in the cache that domain
//! reads use, and once the cache was full a read that missed wrote them back to make room: at
//! 100,000 organizations a third of the `pwrite` calls of a phase of organization reads were
//! made by the reading thread itself (BENCHMARKS.md, "Pool slot affinity"). Apart, the domain
//! file has only durable commits, so its reads never write; the log's pages no longer crowd the
//! domain's out of the cache; and recording no longer queues behind domain writes on one writer
//! thread (BENCHMARKS.md, "The decision log in a file of its own", has the before and after).
//! The price: a second file to place on the same disk; a log writer with a quarter of the cache
//! (which dropped decisions under an in-process flood while the log was kept by organization,
//! and keeps up since it is kept by time: `records::decisions`); and the log is not in the
//! domain's transactions (it never was: the recorder writes it afterwards).
//!
//! [`super::Store::open`] gives the log [`CACHE_SHARE`] of the page cache asked for, so
//! `storage_cache_mib` still bounds both. On PostgreSQL the log stays in the database.
//!
//! A domain file from before the split (or a restored backup, which carries the log) still
//! holds decisions: [`move_out_of`] moves them into the log file at start, a page at a time,
//! each page durable in the log before it leaves the domain file, so a crash in between only
//! means moving that page again.

use std::path::{Path, PathBuf};

use redb::{
    Database, Key, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, Value,
};

use super::StorageError;
use super::migrate::VERSION_KEY;
use super::records::decisions::DECISION_COUNT_KEY;
use super::records::layout_v5::DECISIONS_V4;
use super::tables::{DECISION_BODIES, DECISION_ORDER, DECISIONS_BY_ORG, META};

/// The part of the page cache the log gets: appends touch the newest pages of its bodies and
/// time index and the organization index's small leaves; the domain's reads want the rest.
pub const CACHE_SHARE: f64 = 0.25;

/// `meta` key of the domain file: which domain file this is (random, made once). A backup is
/// given an id of its own, so a restored backup is not taken for the file it was copied from.
pub const DOMAIN_ID_KEY: &str = "domain_file_id";

/// `meta` key of the log file: the id of the domain file it belongs to. It also marks the file
/// as a log, so neither file is opened as the other.
const OWNER_KEY: &str = "decision_log_of";

/// Entries moved per transaction pair by [`move_out_of`].
const MOVE_PAGE: usize = 4_096;

/// Where the log of the domain file at `domain` lives: `NAME.decisions.redb` beside it.
pub fn path_beside(domain: &Path) -> PathBuf {
    let stem = domain
        .file_stem()
        .map_or_else(|| "tenantry".into(), |s| s.to_string_lossy().into_owned());
    domain.with_file_name(format!("{stem}.decisions.redb"))
}

/// How `cache_bytes` is split: (the domain file's, the log's).
pub fn split_cache(cache_bytes: usize) -> (usize, usize) {
    let log = (cache_bytes as f64 * CACHE_SHARE) as usize;
    (cache_bytes - log, log)
}

/// Whether `table` is one of the log's.
pub fn holds(table: &str) -> bool {
    use redb::TableHandle;
    [
        DECISION_BODIES.name(),
        DECISIONS_BY_ORG.name(),
        DECISION_ORDER.name(),
    ]
    .contains(&table)
}

/// Whether the `meta` entry `key` belongs to one file and is never copied to another (a
/// copy's count and id are its own).
pub fn is_files_own(key: &str) -> bool {
    [VERSION_KEY, DECISION_COUNT_KEY, DOMAIN_ID_KEY].contains(&key)
}

/// The domain file's id, made on its first open by a build that keeps the log apart.
pub fn domain_id(domain: &Database) -> Result<u128, StorageError> {
    let txn = domain.begin_write()?;
    let id = {
        let mut meta = txn.open_table(META)?;
        if let Some(id) = id_in(&meta, DOMAIN_ID_KEY)? {
            return Ok(id);
        }
        put_new_id(&mut meta)?
    };
    txn.commit()?;
    Ok(id)
}

/// Gives a copy of a domain file (a backup) an id of its own.
pub fn give_new_id(copy: &redb::WriteTransaction) -> Result<(), StorageError> {
    put_new_id(&mut copy.open_table(META)?)?;
    Ok(())
}

/// A file id kept in `meta` under `key`.
fn id_in(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<u128>, StorageError> {
    Ok(meta
        .get(key)?
        .and_then(|bytes| <[u8; 16]>::try_from(bytes.value()).ok())
        .map(u128::from_le_bytes))
}

/// Writes a new random domain file id into `meta` and answers it.
fn put_new_id(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
) -> Result<u128, StorageError> {
    let id: u128 = rand::random();
    meta.insert(DOMAIN_ID_KEY, id.to_le_bytes().as_slice())?;
    Ok(id)
}

/// Opens (or creates) the log of the domain file `domain_id` at `path` with its tables. A log
/// that belongs to another domain file (the one a restored backup replaced) is set aside as
/// `NAME.decisions.redb.replaced-SECONDS`, not merged: its decisions were made on another state.
pub fn open(path: &Path, cache_bytes: usize, domain_id: u128) -> Result<Database, StorageError> {
    let mut log = super::handle::open(path, cache_bytes)?;
    if owner(&log)?.is_some_and(|owner| owner != domain_id) {
        drop(log);
        let mut aside = path.as_os_str().to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        aside.push(format!(".replaced-{now}"));
        std::fs::rename(path, &aside).map_err(|e| {
            StorageError::Internal(format!("cannot set `{}` aside: {e}", path.display()))
        })?;
        tracing::warn!(
            aside = %Path::new(&aside).display(),
            "the decision log beside the database belonged to another database file (a restored backup?); set aside, a new log starts"
        );
        log = super::handle::open(path, cache_bytes)?;
    }
    prepare(&log, domain_id)?;
    Ok(log)
}

/// The id of the domain file a log belongs to, once it was prepared.
fn owner(log: &Database) -> Result<Option<u128>, StorageError> {
    let txn = log.begin_read()?;
    match txn.open_table(META) {
        Ok(meta) => id_in(&meta, OWNER_KEY),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates the log's tables and names its domain file, refusing a domain file given as a log.
fn prepare(log: &Database, domain_id: u128) -> Result<(), StorageError> {
    let txn = log.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        if meta.get(VERSION_KEY)?.is_some() {
            return Err(StorageError::Internal(
                "the decision log's file holds domain data; is the database path pointing at a log file's name?".into(),
            ));
        }
        meta.insert(OWNER_KEY, domain_id.to_le_bytes().as_slice())?;
    }
    txn.open_table(DECISION_BODIES)?;
    txn.open_table(DECISIONS_BY_ORG)?;
    txn.open_table(DECISION_ORDER)?;
    txn.commit()?;
    Ok(())
}

/// Refuses to use a decision log's file as the domain file.
pub fn refuse_as_domain(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<(), StorageError> {
    if meta.get(OWNER_KEY)?.is_some() {
        return Err(StorageError::Internal(
            "this file is a decision log, not a tenantry database; point the database path at the domain file".into(),
        ));
    }
    Ok(())
}

/// Moves every decision the domain file still holds into the log file and answers how many
/// entries moved (bodies and indexes together; layout 4's table too, which the log then
/// rekeys, `records::layout_v5`). Whether or not any did, the log's count is then set to its
/// rows (a length read on redb), so a start cut short between the last page and the count
/// leaves no wrong count behind, and the domain file keeps no count of its own.
pub fn move_out_of(domain: &Database, log: &Database) -> Result<u64, StorageError> {
    let moved = move_table(domain, log, DECISIONS_V4)?
        + move_table(domain, log, DECISION_BODIES)?
        + move_table(domain, log, DECISIONS_BY_ORG)?
        + move_table(domain, log, DECISION_ORDER)?;
    let txn = log.begin_write()?;
    let rows = txn.open_table(DECISION_ORDER)?.len()?;
    txn.open_table(META)?
        .insert(DECISION_COUNT_KEY, rows.to_le_bytes().as_slice())?;
    txn.commit()?;
    let txn = domain.begin_write()?;
    let stale_count = txn.open_table(META)?.remove(DECISION_COUNT_KEY)?.is_some();
    let old_table = txn.delete_table(DECISIONS_V4)?;
    if stale_count || old_table {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    if moved > 0 {
        tracing::info!(moved, "moved the decision log out of the domain file");
    }
    Ok(moved)
}

/// Moves `def`'s entries, oldest key first, a page at a time: durable in `to`, then removed
/// from `from`. A table `from` does not have has nothing to move.
fn move_table<K>(
    from: &Database,
    to: &Database,
    def: TableDefinition<'static, K, &'static [u8]>,
) -> Result<u64, StorageError>
where
    K: Key + Copy + 'static + for<'a> Value<SelfType<'a> = K>,
{
    let mut moved = 0;
    loop {
        let page: Vec<(K, Vec<u8>)> = {
            let txn = from.begin_read()?;
            let table = match txn.open_table(def) {
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(moved),
                table => table?,
            };
            table
                .iter()?
                .take(MOVE_PAGE)
                .map(|entry| {
                    let (key, body) = entry?;
                    Ok((key.value(), body.value().to_vec()))
                })
                .collect::<Result<_, StorageError>>()?
        };
        if page.is_empty() {
            return Ok(moved);
        }
        let txn = to.begin_write()?;
        {
            let mut table = txn.open_table(def)?;
            for (key, body) in &page {
                table.insert(key, body.as_slice())?;
            }
        }
        txn.commit()?;
        let txn = from.begin_write()?;
        {
            let mut table = txn.open_table(def)?;
            for (key, _) in &page {
                table.remove(key)?;
            }
        }
        txn.commit()?;
        moved += page.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::OrgId;
    use crate::storage::records::decisions::DecisionRecord;
    use crate::storage::records::layout_v5;
    use crate::storage::{Snapshot, Store, Tx, View, handle, migrate, read_from};

    fn decisions(org: OrgId, n: usize) -> Vec<DecisionRecord> {
        (0..n)
            .map(|i| DecisionRecord::stand_in(Some(org), i as i64))
            .collect()
    }

    /// A domain file as an older build left it: decisions in its own tables, kept by
    /// organization (layout 4).
    fn older_domain_file(path: &Path, records: &[DecisionRecord]) -> Database {
        let domain = handle::open(path, 4 << 20).unwrap();
        migrate::prepare(&domain).unwrap();
        let txn = domain.begin_write().unwrap();
        layout_v5::write_v4(&Tx::new(&txn), records);
        txn.commit().unwrap();
        domain
    }

    fn logged(db: &impl ReadableDatabase, org: OrgId) -> (u64, u64, usize) {
        read_from(db, |view: &View<'_>| {
            Ok((
                view.decision_count()?,
                view.count(DECISION_ORDER)?,
                view.decisions_of(org, None, usize::MAX)?.len(),
            ))
        })
        .unwrap()
    }

    /// More than a page of an older file's decisions end up in the log, counted, and the
    /// domain file keeps none of them (nor their count).
    #[test]
    fn an_older_files_decisions_move_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let org = OrgId::new();
        let n = MOVE_PAGE + 10;
        let path = dir.path().join("t.redb");
        let domain = older_domain_file(&path, &decisions(org, n));
        let log = open(&path_beside(&path), 4 << 20, domain_id(&domain).unwrap()).unwrap();

        let moved = move_out_of(&domain, &log).unwrap();
        let rekeyed = layout_v5::rekey_decisions(&log).unwrap();

        assert_eq!(
            moved,
            2 * n as u64,
            "each decision's body and its time entry"
        );
        assert_eq!(rekeyed, n as u64, "the bodies keyed by time in the log");
        assert_eq!(logged(&log, org), (n as u64, n as u64, n));
        let left = read_from(&domain, |view: &View<'_>| {
            Ok((
                view.count(DECISION_ORDER)?,
                view.count(DECISION_BODIES)?,
                view.meta(DECISION_COUNT_KEY)?,
            ))
        })
        .unwrap();
        assert_eq!(left, (0, 0, None));
        let txn = domain.begin_read().unwrap();
        assert!(
            txn.open_table(DECISIONS_V4).is_err(),
            "layout 4's table leaves the domain file"
        );
        drop(txn);
        assert_eq!(
            move_out_of(&domain, &log).unwrap(),
            0,
            "nothing is left to move"
        );
    }

    /// A start that crashed after a page reached the log but before it left the domain file
    /// moves that page again: the log holds each decision once and counts it once.
    #[test]
    fn a_move_cut_short_is_repeated_without_counting_twice() {
        let dir = tempfile::tempdir().unwrap();
        let org = OrgId::new();
        let records = decisions(org, 50);
        let path = dir.path().join("t.redb");
        let domain = older_domain_file(&path, &records);
        let log = open(&path_beside(&path), 4 << 20, domain_id(&domain).unwrap()).unwrap();
        // The first 30 reached the log and were rekeyed there, the next 10 reached it only.
        let txn = log.begin_write().unwrap();
        Tx::new(&txn)
            .append_decisions(records[..30].iter())
            .unwrap();
        layout_v5::write_v4(&Tx::new(&txn), &records[30..40]);
        txn.commit().unwrap();

        move_out_of(&domain, &log).unwrap();
        layout_v5::rekey_decisions(&log).unwrap();

        assert_eq!(logged(&log, org), (50, 50, 50));
        let bodies = read_from(&log, |view: &View<'_>| Ok(view.count(DECISION_BODIES)?)).unwrap();
        assert_eq!(bodies, 50);
    }

    #[test]
    fn neither_file_is_opened_as_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let domain = older_domain_file(&path, &[]);
        // Refused for what they are, not for any other failure.
        let as_log = prepare(&domain, 1).unwrap_err().to_string();
        assert!(as_log.contains("holds domain data"), "{as_log}");
        let log = open(&path_beside(&path), 4 << 20, 1).unwrap();
        let as_domain = migrate::prepare(&log).unwrap_err().to_string();
        assert!(as_domain.contains("is a decision log"), "{as_domain}");
    }

    /// Opens the store at `path`, waiting for a dropped one to let go of its files.
    async fn reopen(path: &Path) -> Store {
        for _ in 0..100 {
            match Store::open(path, 4 << 20) {
                Err(StorageError::Redb(redb::Error::DatabaseAlreadyOpen)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                opened => return opened.unwrap(),
            }
        }
        panic!("`{}` stayed open", path.display());
    }

    async fn record(store: &Store, org: OrgId, n: usize) {
        let records = decisions(org, n);
        store
            .decision_log()
            .write_relaxed(move |tx| Ok(tx.append_decisions(records.iter())?))
            .await
            .unwrap();
    }

    fn logged_about(store: &Store, org: OrgId) -> (u64, usize) {
        store
            .decision_log()
            .read(|view| {
                Ok((
                    view.decision_count()?,
                    view.decisions_of(org, None, 100)?.len(),
                ))
            })
            .unwrap()
    }

    /// What a server records goes to the log's file; a backup carries it; a server restored
    /// from the backup over the same directory logs what the backup held, not the decisions
    /// made after it (its old log is set aside, not merged), and a restart keeps the pair.
    #[tokio::test]
    async fn recorded_decisions_live_beside_the_domain_and_travel_with_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tenantry.redb");
        let org = OrgId::new();
        let store = Store::open(&path, 4 << 20).unwrap();
        record(&store, org, 20).await;
        let in_domain = store.read(|view| Ok(view.count(DECISION_ORDER)?)).unwrap();
        assert_eq!(in_domain, 0, "domain reads never meet the log's pages");

        let backup = dir.path().join("backup.redb");
        store.backup_to(&backup).unwrap();
        let in_backup = Snapshot::open(&backup)
            .unwrap()
            .read(|view| Ok(view.decision_count()?))
            .unwrap();
        assert_eq!(in_backup, 20);
        record(&store, org, 5).await;
        assert_eq!(logged_about(&store, org), (25, 25));
        drop(store);

        // The restore: only once the stopped server has let go of its file (a writer thread
        // closes it when its queue ends).
        let mut closed = Database::open(&path);
        while let Err(redb::DatabaseError::DatabaseAlreadyOpen) = closed {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            closed = Database::open(&path);
        }
        drop(closed.unwrap());
        std::fs::copy(&backup, &path).unwrap();
        let store = reopen(&path).await;
        assert_eq!(logged_about(&store, org), (20, 20), "the backup's log only");
        let set_aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|entry| {
                let name = entry.as_ref().unwrap().file_name();
                name.to_string_lossy()
                    .starts_with("tenantry.decisions.redb.replaced-")
            })
            .count();
        assert_eq!(set_aside, 1, "the replaced log is kept aside");
        drop(store);

        let store = reopen(&path).await;
        assert_eq!(
            logged_about(&store, org),
            (20, 20),
            "a restart keeps its log"
        );
    }

    #[test]
    fn the_log_is_named_after_the_domain_file_beside_it() {
        assert_eq!(
            path_beside(Path::new("data/tenantry.redb")),
            Path::new("data/tenantry.decisions.redb")
        );
        assert_eq!(
            path_beside(Path::new("/srv/t")),
            Path::new("/srv/t.decisions.redb")
        );
    }

    #[test]
    fn the_cache_is_split_without_losing_a_byte() {
        let (domain, log) = split_cache(128 << 20);
        assert_eq!((domain, log), (96 << 20, 32 << 20));
        let (domain, log) = split_cache(7);
        assert_eq!(domain + log, 7);
    }
}
