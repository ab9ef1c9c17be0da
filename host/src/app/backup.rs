//! Online backup: a consistent copy of the whole store, taken while the server keeps writing.
//!
//! redb holds an exclusive lock on its file, so a second process cannot read a running
//! server's database; the copy is made by the server itself (`GET /v1/platform/backup`) and
//! streamed to `tenantry backup`, which verifies it before keeping it.

use std::fs::File;

use serde_json::Value;

use super::App;
use super::actor::Actor;
use crate::error::{Error, Result};

/// A finished copy: an open handle to a file that no longer has a name (it vanishes when the
/// handle is dropped, whether or not the stream reached the client).
pub struct Backup {
    pub file: File,
    pub len: u64,
}

impl App {
    /// Copies the current snapshot. Operator only: the copy holds every tenant's records, so
    /// no policy can hand it to anyone else (the `authorize` hook may still refuse the
    /// operator, e.g. to freeze backups during maintenance).
    pub async fn backup(&self, actor: Actor) -> Result<Backup> {
        if !actor.is_operator() {
            return Err(Error::Forbidden {
                reason: "only the platform operator may take a backup".into(),
                layer: "platform".into(),
            });
        }
        self.authorize_global(actor, "platform.backup", Value::Null)?;
        if self.store.is_shared() {
            return Err(Error::Conflict(
                "this server keeps its data in PostgreSQL: back it up with the database's own \
                 tools (pg_dump), as the README says"
                    .into(),
            ));
        }
        let store = self.store.clone();
        let path = self
            .settings
            .data_dir
            .join(format!(".backup-{}.redb", uuid::Uuid::now_v7()));
        tokio::task::spawn_blocking(move || {
            let made = store.backup_to(&path).map_err(Error::from).and_then(|()| {
                let file = File::open(&path).map_err(|e| io_error(&path, e))?;
                let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
                Ok(Backup { file, len })
            });
            // Whatever happened, the name goes: an open handle keeps the bytes readable.
            let _ = std::fs::remove_file(&path);
            made
        })
        .await
        .map_err(|e| Error::Storage(crate::storage::StorageError::Internal(e.to_string())))?
    }
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::Storage(crate::storage::StorageError::Internal(format!(
        "backup file `{}`: {e}",
        path.display()
    )))
}
