//! The embedded redb store: table layout, typed reads and writes, group commit, migrations.
//!
//! Nothing outside this module touches redb. The rest of the host sees [`Store::read`] with a
//! [`View`], and [`Store::write`] with a [`Tx`], which is the seam where another backend would
//! go (ARCHITECTURE.md, "Where users outgrow one machine").

pub mod codec;
pub mod migrate;
pub mod tables;
pub mod tx;
pub mod view;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

pub use tx::Tx;
pub use view::View;
use writer::Writer;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Redb(#[from] redb::Error),
    #[error("the disk is full; writes are refused until space returns")]
    Full,
    #[error("record encoding: {0}")]
    Codec(String),
    #[error("durable commit failed: {0}")]
    Durability(String),
    #[error("the writer has stopped")]
    Closed,
    #[error("{0}")]
    Internal(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(error: $t) -> Self {
                let error: redb::Error = error.into();
                match &error {
                    redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => StorageError::Full,
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
    redb::DatabaseError
);

#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: Writer,
}

impl Store {
    /// Opens (or creates) the file, creates missing tables, migrates older layouts, and starts
    /// the group-commit writer.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Internal(format!("cannot create `{}`: {e}", dir.display()))
            })?;
        }
        let db = Arc::new(Database::create(path)?);
        migrate::prepare(&db)?;
        let writer = Writer::start(Arc::clone(&db))?;
        Ok(Self { db, writer })
    }

    /// Runs `f` on a consistent snapshot.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&View<'_>) -> Result<T, crate::Error>,
    ) -> Result<T, crate::Error> {
        let txn = self.db.begin_read().map_err(StorageError::from)?;
        f(&View::Read(&txn))
    }

    pub fn write_stats(&self) -> &writer::WriteStats {
        self.writer.stats()
    }

    /// Runs `op` in a write transaction; returns once the effect is durable.
    pub async fn write<T, F>(&self, op: F) -> Result<T, crate::Error>
    where
        F: FnOnce(&Tx<'_>) -> Result<T, crate::Error> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(op).await
    }
}
