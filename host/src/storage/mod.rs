//! The store: table layout, typed reads and writes, group commit, migrations, on one of two
//! backends — the embedded redb file (the default) or PostgreSQL ([`postgres`], several
//! servers on one database).
//!
//! Nothing outside this module touches redb or PostgreSQL. The rest of the host sees
//! [`Store::read`] with a [`View`], and [`Store::write`] with a [`Tx`], and the record
//! functions of [`records`] on them (ARCHITECTURE.md, "Where users outgrow one machine").

pub mod backup;
pub mod codec;
pub mod counters;
pub mod decision_log;
pub mod handle;
mod json_text;
pub mod migrate;
pub mod postgres;
pub mod records;
mod recurring;
pub mod tables;
pub mod transfer;
pub mod tx;
pub mod undo;
pub mod view;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::ReadableDatabase;

use handle::Handle;

pub use backup::Snapshot;
pub use tx::Tx;
pub use view::View;
use writer::Writer;

/// The key in the `meta` table of the policy generation, raised by every binding change; on
/// PostgreSQL a commit that raises it notifies the other servers ([`postgres::listen`]).
pub const POLICY_GENERATION_KEY: &str = "policy_generation";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Redb(#[from] redb::Error),
    #[error("the disk is full; writes are refused until space returns")]
    Full,
    /// The file is being reopened after an I/O error; a retry in a moment will succeed.
    #[error("storage is recovering from an I/O error; retry shortly")]
    Unavailable,
    #[error("record encoding: {0}")]
    Codec(String),
    #[error("durable commit failed: {0}")]
    Durability(String),
    #[error("the writer has stopped")]
    Closed,
    #[error("{0}")]
    Internal(String),
    /// A write that would break a uniqueness rule (a taken tenant id, a second live link
    /// between two organizations): a unique-constraint violation in SQL terms. Answered 409.
    #[error("{0}")]
    Duplicate(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(error: $t) -> Self {
                let error: redb::Error = error.into();
                match &error {
                    redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => StorageError::Full,
                    // Poisoned by an earlier I/O error until the writer reopens it.
                    redb::Error::PreviousIo => StorageError::Unavailable,
                    _ => StorageError::Redb(error),
                }
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::CompactionError
);

/// The record cache of a store opened by [`Store::connect`] (tools and tests); a server sizes
/// its own with `storage_cache_mib`.
pub const DEFAULT_RECORD_CACHE: usize = 16 << 20;

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    writer: Writer,
    counters: Arc<dyn counters::Counters>,
    /// The decision log's own store, on the embedded file ([`decision_log`]); on PostgreSQL
    /// the log is in the database.
    log: Option<Arc<Store>>,
}

#[derive(Clone)]
enum Backend {
    File(Arc<Handle>),
    Postgres(Arc<postgres::Postgres>),
}

impl Store {
    /// Opens (or creates) the file with a page cache of at most `cache_bytes` (shared with the
    /// decision log's file beside it, [`decision_log`]), creates missing tables, migrates older
    /// layouts, moves decisions an older file holds into the log, and starts the group-commit
    /// writers.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Internal(format!("cannot create `{}`: {e}", dir.display()))
            })?;
        }
        let (domain_cache, log_cache) = decision_log::split_cache(cache_bytes);
        let mut db = handle::open(path, domain_cache)?;
        migrate::prepare(&db)?;
        let log_path = decision_log::path_beside(path);
        let log_db = decision_log::open(&log_path, log_cache, decision_log::domain_id(&db)?)?;
        if decision_log::move_out_of(&db, &log_db)? > 0 {
            // redb keeps a file's size; what the log left is given back to the disk once.
            db.compact()?;
        }
        records::layout_v5::rekey_decisions(&log_db)?;
        let log = Self::on_file(&log_path, log_cache, log_db, None, "tenantry-log-writer")?;
        Self::on_file(
            path,
            domain_cache,
            db,
            Some(Arc::new(log)),
            "tenantry-writer",
        )
    }

    /// Opens the file at `path` to copy from it as it is: with the decision log beside it if
    /// there is one, else reading the decisions it holds itself (a backup), never moving them
    /// out, so a backup given to `migrate-store` stays whole.
    pub fn open_as_found(path: &Path, cache_bytes: usize) -> Result<Self, StorageError> {
        if decision_log::path_beside(path).exists() {
            return Self::open(path, cache_bytes);
        }
        let db = handle::open(path, cache_bytes)?;
        migrate::prepare(&db)?;
        records::layout_v5::rekey_decisions(&db)?;
        Self::on_file(path, cache_bytes, db, None, "tenantry-writer")
    }

    /// A store on the prepared file `db`, with its writer started.
    fn on_file(
        path: &Path,
        cache_bytes: usize,
        db: redb::Database,
        log: Option<Arc<Store>>,
        writer_name: &str,
    ) -> Result<Self, StorageError> {
        let db = Arc::new(Handle::new(path, cache_bytes, db));
        let writer = Writer::start(Arc::clone(&db) as Arc<dyn writer::Backend>, writer_name)?;
        Ok(Self {
            backend: Backend::File(db),
            writer,
            counters: Arc::new(counters::InMemory::default()),
            log,
        })
    }

    /// Connects to PostgreSQL at `url` with at most `connections` connections, creates or
    /// upgrades its schema, and starts the group-commit writer. Blocking: call it at start.
    /// Keeps up to [`DEFAULT_RECORD_CACHE`] of records in memory.
    pub fn connect(url: &str, connections: usize) -> Result<Self, StorageError> {
        Self::connect_with(url, None, connections, DEFAULT_RECORD_CACHE)
    }

    /// [`Store::connect`], trusting the certificates of `ca_file` (PEM) besides Mozilla's roots
    /// for TLS to the database, and keeping up to `cache_bytes` of records this server read
    /// ([`postgres::cache`]).
    pub fn connect_with(
        url: &str,
        ca_file: Option<&Path>,
        connections: usize,
        cache_bytes: usize,
    ) -> Result<Self, StorageError> {
        let db = Arc::new(postgres::Postgres::connect(
            url,
            ca_file,
            connections,
            cache_bytes,
        )?);
        let writer = Writer::start(
            Arc::clone(&db) as Arc<dyn writer::Backend>,
            "tenantry-writer",
        )?;
        Ok(Self {
            counters: Arc::clone(&db) as Arc<dyn counters::Counters>,
            backend: Backend::Postgres(db),
            writer,
            log: None,
        })
    }

    /// Where the decision log is read and written: its own file beside an embedded file
    /// ([`decision_log`]), the same database on PostgreSQL.
    pub fn decision_log(&self) -> &Store {
        self.log.as_deref().unwrap_or(self)
    }

    /// The store that holds the table named `table`: [`Store::decision_log`] for the log's.
    pub fn holding(&self, table: &str) -> &Store {
        if decision_log::holds(table) {
            self.decision_log()
        } else {
            self
        }
    }

    /// How many records every record table holds, by table name, the log's counted where it
    /// is kept.
    pub fn record_counts(&self) -> Result<Vec<(&'static str, u64)>, crate::Error> {
        let mut counts = self.read(|view| Ok(view.record_counts()?))?;
        if self.log.is_some() {
            use redb::TableHandle;
            // `record_counts` answers in the order of `ALL_RECORDS`.
            for (def, (_, n)) in tables::ALL_RECORDS.iter().zip(&mut counts) {
                if decision_log::holds(def.name()) {
                    *n = self.decision_log().read(|view| Ok(view.count(*def)?))?;
                }
            }
        }
        Ok(counts)
    }

    /// Whether several servers may share this store (PostgreSQL), so what one server keeps in
    /// memory must follow what the others write.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Whether any of the store's writers (the domain's, the log's) cannot reach the disk.
    pub fn is_failing(&self) -> bool {
        std::iter::once(self)
            .chain(self.log.as_deref())
            .any(|store| {
                store
                    .writer
                    .stats()
                    .failing
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
    }

    /// Runs `f` on a consistent snapshot.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
    ) -> Result<T, crate::Error> {
        match &self.backend {
            Backend::File(db) => read_from(db.current()?.as_ref(), f),
            Backend::Postgres(db) => db.read(f),
        }
    }

    /// [`Store::read`] for a small read that owns what it uses, which on PostgreSQL shares one
    /// snapshot (one round trip) with the other such reads waiting at the same moment
    /// ([`postgres::read_group`]): a request's token.
    pub fn read_together<T: Send + 'static>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error> + Send + 'static,
    ) -> Result<T, crate::Error> {
        match &self.backend {
            Backend::File(db) => read_from(db.current()?.as_ref(), f),
            Backend::Postgres(db) => db.read_together(f),
        }
    }

    /// Signalled soon after another server changed the policy bindings, where the database
    /// can say so (PostgreSQL's LISTEN/NOTIFY); `None` where only polling follows.
    pub fn policy_changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        match &self.backend {
            Backend::File(_) => None,
            Backend::Postgres(db) => db.policy_changes(),
        }
    }

    /// The quotas and counted attempts of every server of this store
    /// ([`counters`]): in memory on the file, in the database on PostgreSQL.
    pub fn counters(&self) -> Arc<dyn counters::Counters> {
        Arc::clone(&self.counters)
    }

    pub fn write_stats(&self) -> &writer::WriteStats {
        self.writer.stats()
    }

    /// Runs `op` in a write transaction; returns once the effect is durable.
    ///
    /// What every use case relies on, and any backend behind this seam must give:
    /// - **Serializable**: `op` reads (through `tx.view()`) and writes as if no other write ran
    ///   at the same time, so an invariant checked inside it (the link cap, one live link per
    ///   pair, exactly one owner, a single-use invitation, an idempotency claim) still holds
    ///   when it commits. redb gives this by running writes one at a time; PostgreSQL by a
    ///   write lock every server's write batch takes first ([`postgres`]), so `op` runs once
    ///   and is never retried.
    /// - **All or nothing**: an `Err` from `op` leaves the store exactly as it was; other jobs
    ///   committed in the same durable batch are not affected.
    /// - **Durable on return**: an `Ok` means the change survives a crash that follows.
    pub async fn write<T, F>(&self, op: F) -> Result<T, crate::Error>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, crate::Error> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(op).await
    }

    /// [`Store::write`], but answered once the change is committed and visible, before it is
    /// durable: a crash may lose up to [`writer::RELAXED_FOR`] of such changes (on PostgreSQL
    /// none: every batch commits). For the decision log, never for a domain change.
    pub async fn write_relaxed<T, F>(&self, op: F) -> Result<T, crate::Error>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, crate::Error> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write_relaxed(op).await
    }
}

/// One consistent snapshot of `db`, for the server's store and a read-only copy alike.
fn read_from<T>(
    db: &impl ReadableDatabase,
    f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
) -> Result<T, crate::Error> {
    let txn = db.begin_read().map_err(StorageError::from)?;
    f(&View::read(&txn))
}
