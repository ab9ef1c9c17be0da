//! The open database, replaceable while the server runs.
//!
//! After an I/O error in a commit (a full disk, a failing device) redb refuses every further
//! transaction until the file is closed and opened again. The writer does that here: it takes
//! the database out (reads in that moment answer 503 and are retried by clients), waits for
//! in-flight reads to let go of the old file, and opens it again, which repairs it to its last
//! durable commit. Until that succeeds, e.g. while the disk is still full, writes are refused
//! with the reason and reads of the reopened file resume as soon as it is back.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use super::StorageError;

pub struct Handle {
    path: PathBuf,
    cache_bytes: usize,
    db: RwLock<Option<Arc<Database>>>,
}

/// Opens (or creates) `path` with a page cache of at most `cache_bytes`. redb's own default is
/// 1 GiB, which a long-running server fills with every page it ever touched.
pub fn open(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
}

impl Handle {
    pub fn new(path: &Path, cache_bytes: usize, db: Database) -> Self {
        Self {
            path: path.to_path_buf(),
            cache_bytes,
            db: RwLock::new(Some(Arc::new(db))),
        }
    }

    /// The database, unless it is being reopened.
    pub fn current(&self) -> Result<Arc<Database>, StorageError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StorageError::Unavailable)
    }

    /// Closes the file and opens it again. Called by the writer only, after a failed commit.
    pub fn reopen(&self) -> Result<(), StorageError> {
        let old = self.db.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
        // Reads that began before the close still hold the old file; redb refuses a second
        // open of a file until they finish, which takes microseconds to milliseconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        let db = loop {
            match open(&self.path, self.cache_bytes) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e.into()),
            }
        };
        *self.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
        tracing::warn!(path = %self.path.display(), "database reopened after an I/O error");
        Ok(())
    }
}
