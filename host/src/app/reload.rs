//! The platform layer's files: synced into versions at start, and hot-reloaded when they
//! change. A file that does not compile or fails its fixtures (`tests/{hook}.json`) leaves the
//! previous version active; the error shows in `GET /v1/policies`.
//!
//! Changes are noticed by a file watcher (debounced) and, as a fallback for file systems that
//! do not report events, by a re-scan every second; both end in [`App::sync_platform_file`],
//! which does nothing when the file's SHA-256 has not changed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::App;
use super::policies::Target;
use crate::domain::clock::Timestamp;
use crate::error::{Error, Result};
use crate::policy::Hook;
use crate::policy::fixtures;
use crate::policy::version::{BindingKey, PolicyVersion};
use crate::storage::Tx;

/// How one platform file stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileStatus {
    pub path: String,
    /// When the file's current content became the active version.
    pub loaded_at: Option<Timestamp>,
    /// Why the file's current content is not active (file:line:column: message).
    pub last_error: Option<String>,
}

/// The platform policy directory and what the server made of each file.
#[derive(Clone)]
pub struct PlatformFiles {
    pub dir: PathBuf,
    status: Arc<Mutex<HashMap<Hook, FileStatus>>>,
}

impl PlatformFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            status: Arc::default(),
        }
    }

    pub fn status(&self, hook: Hook) -> FileStatus {
        let status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.get(&hook).cloned().unwrap_or_else(|| FileStatus {
            path: self.path(hook).display().to_string(),
            ..FileStatus::default()
        })
    }

    fn set(&self, hook: Hook, loaded_at: Option<Timestamp>, error: Option<String>) {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = status.entry(hook).or_insert_with(|| FileStatus {
            path: self.path(hook).display().to_string(),
            ..FileStatus::default()
        });
        if loaded_at.is_some() {
            entry.loaded_at = loaded_at;
        }
        entry.last_error = error;
    }

    pub fn path(&self, hook: Hook) -> PathBuf {
        self.dir.join(format!("{}.rhai", hook.name()))
    }
}

fn meta_key(hook: Hook) -> String {
    format!("platform_file_sha:{}", hook.name())
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    Unchanged,
    /// The file became this version number.
    Activated(u32),
}

impl App {
    /// Makes the file's current content the platform version for `hook` if it changed since
    /// it was last synced. Errors leave the previous version active and are recorded.
    pub async fn sync_platform_file(&self, hook: Hook) -> Result<Synced> {
        let files = self.platform_files.clone();
        let path = files.path(hook);
        let result = self.sync_file_inner(hook, &path).await;
        match &result {
            Ok(Synced::Activated(n)) => {
                tracing::info!(hook = hook.name(), version = n, file = %path.display(), "platform policy reloaded");
                files.set(hook, Some(self.clock.now()), None);
            }
            Ok(Synced::Unchanged) => {}
            Err(e) => {
                tracing::warn!(hook = hook.name(), error = %e, "platform policy file not loaded; the previous version stays active");
                files.set(hook, None, Some(e.to_string()));
            }
        }
        result
    }

    async fn sync_file_inner(&self, hook: Hook, path: &std::path::Path) -> Result<Synced> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| Error::Policy(format!("cannot read `{}`: {e}", path.display())))?;
        let sha = hex::encode(Sha256::digest(source.as_bytes()));
        let key = BindingKey::platform(hook);
        let known = self.store.read(|view| Ok(view.meta(&meta_key(hook))?))?;
        let bound = self.store.read(|view| {
            Ok(view
                .keyed::<crate::policy::version::Binding>(
                    crate::storage::tables::POLICY_BINDINGS,
                    &key.text(),
                )?
                .is_some())
        })?;
        if known.as_deref() == Some(sha.as_bytes()) && bound {
            return Ok(Synced::Unchanged);
        }
        let policy = self
            .policies
            .runtime()
            .compile(hook, &path.display().to_string(), &source)
            .map_err(Error::Policy)?;
        let cases = fixtures::load_cases(&self.platform_files.dir, hook)?;
        let author = format!("file:{}", path.display());
        let (version, _) = self
            .publish(
                Target::Platform,
                None,
                hook,
                policy,
                source,
                cases,
                author,
                move |_: &App, tx: &Tx<'_>, _: &PolicyVersion| {
                    tx.put_meta(&meta_key(hook), sha.as_bytes())?;
                    Ok(())
                },
            )
            .await
            .map_err(|e| match e {
                Error::FixturesFailed(cases) => Error::Policy(format!(
                    "`{}` fails its fixtures: {}",
                    path.display(),
                    cases
                        .iter()
                        .map(|c| format!(
                            "`{}` expected {} got {} ({})",
                            c.case, c.expected, c.got, c.reason
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                other => other,
            })?;
        let number = version.number;
        Ok(Synced::Activated(number))
    }

    /// Syncs every platform file; returns the first error (used at start, where any error
    /// stops the server).
    pub async fn sync_platform_files(&self) -> Result<()> {
        for hook in Hook::ALL {
            self.sync_platform_file(hook).await?;
        }
        Ok(())
    }

    /// Watches the policy directory until the task is dropped.
    pub async fn watch_platform_files(self) {
        let (events, mut changed) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = events.send(());
            }
        });
        let _watcher = match watcher {
            Ok(mut w) => {
                use notify::Watcher;
                if let Err(e) = w.watch(&self.platform_files.dir, notify::RecursiveMode::Recursive)
                {
                    tracing::warn!(error = %e, "cannot watch the policy directory; relying on the periodic re-scan");
                }
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no file watcher; relying on the periodic re-scan");
                None
            }
        };
        let mut rescan = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                Some(()) = changed.recv() => {
                    // Debounce: editors write a file in several steps.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while changed.try_recv().is_ok() {}
                }
                _ = rescan.tick() => {}
            }
            for hook in Hook::ALL {
                let _ = self.sync_platform_file(hook).await;
            }
        }
    }
}
