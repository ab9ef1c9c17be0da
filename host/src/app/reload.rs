//! The platform layer's files: synced into versions at start, and hot-reloaded when they
//! change. A file that does not compile or fails its fixtures (`tests/{hook}.json`) leaves the
//! previous version active; the error shows in `GET /v1/policies`.
//!
//! Changes are noticed by a file watcher (debounced) and, as a fallback for file systems that
//! do not report events, by a re-scan every second; both end in [`App::sync_platform_file`],
//! which does nothing when the file's SHA-256 has not changed.
//!
//! Without a policy directory the server runs on the policies built into the binary
//! ([`crate::policy::stock`]), which nothing reloads: `tenantry init` writes them out to edit.

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
use crate::policy::stock::stock;
use crate::policy::version::{BindingKey, PolicyVersion};
use crate::storage::Tx;

/// How one platform file stands.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
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
    /// No directory at start: the built-in policies are the platform's.
    pub built_in: bool,
    status: Arc<Mutex<HashMap<Hook, FileStatus>>>,
}

impl PlatformFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            built_in: !dir.is_dir(),
            dir,
            status: Arc::default(),
        }
    }

    /// The policy's source for `hook` and the name its messages give it.
    fn source(&self, hook: Hook) -> Result<(String, String)> {
        if self.built_in {
            let name = format!("built-in {}.rhai", hook.name());
            return Ok((stock(hook).source.to_owned(), name));
        }
        let path = self.path(hook);
        let source = std::fs::read_to_string(&path)
            .map_err(|e| Error::Policy(format!("cannot read `{}`: {e}", path.display())))?;
        Ok((source, path.display().to_string()))
    }

    /// The fixtures the policy for `hook` must pass.
    fn cases(&self, hook: Hook) -> Result<Vec<fixtures::Case>> {
        if self.built_in {
            let name = format!("built-in tests/{}.json", hook.name());
            return fixtures::parse_cases(stock(hook).fixtures, &name);
        }
        fixtures::load_cases(&self.dir, hook)
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

    /// Records how `hook`'s file stands; true when its error is not the one already recorded
    /// (so a file that stays broken is reported once, not at every scan).
    fn set(&self, hook: Hook, loaded_at: Option<Timestamp>, error: Option<String>) -> bool {
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
        let changed = entry.last_error != error;
        entry.last_error = error;
        changed
    }

    /// The hooks whose file's current content is not active, with why.
    pub fn failing(&self) -> Vec<(Hook, String)> {
        let status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut failing: Vec<(Hook, String)> = status
            .iter()
            .filter_map(|(hook, s)| Some((*hook, s.last_error.clone()?)))
            .collect();
        failing.sort_by_key(|(hook, _)| *hook);
        failing
    }

    pub fn path(&self, hook: Hook) -> PathBuf {
        if self.built_in {
            return PathBuf::from(format!("(built in) {}.rhai", hook.name()));
        }
        self.dir.join(format!("{}.rhai", hook.name()))
    }
}

fn meta_key(hook: Hook) -> String {
    format!("platform_file_sha:{}", hook.name())
}

/// Where the platform versions of this database came from: `files` or `built-in`.
const SOURCE_KEY: &str = "platform_source";

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
        let result = self.sync_file_inner(hook).await;
        match &result {
            Ok(Synced::Activated(n)) => {
                tracing::info!(hook = hook.name(), version = n, file = %path.display(), "platform policy reloaded");
                files.set(hook, Some(self.clock.now()), None);
                crate::metrics::record_reload(true);
            }
            Ok(Synced::Unchanged) => {
                // A broken file put back as it was: nothing to load, and nothing failing.
                if files.set(hook, None, None) {
                    tracing::info!(hook = hook.name(), file = %path.display(), "platform policy file is the active version again");
                }
            }
            Err(e) => {
                // Scanned every second and on every file event: said once per change.
                if files.set(hook, None, Some(e.to_string())) {
                    tracing::warn!(hook = hook.name(), error = %e, "platform policy file not loaded; the previous version stays active");
                    crate::metrics::record_reload(false);
                }
            }
        }
        result
    }

    async fn sync_file_inner(&self, hook: Hook) -> Result<Synced> {
        let (source, name) = self.platform_files.source(hook)?;
        let sha = hex::encode(Sha256::digest(source.as_bytes()));
        let key = BindingKey::platform(hook);
        let known = self.store.read(|view| Ok(view.meta(&meta_key(hook))?))?;
        let bound = self.store.read(|view| Ok(view.binding(&key)?.is_some()))?;
        if known.as_deref() == Some(sha.as_bytes()) && bound {
            return Ok(Synced::Unchanged);
        }
        let policy = self
            .policies
            .runtime()
            .compile(hook, &name, &source)
            .map_err(Error::Policy)?;
        let cases = self.platform_files.cases(hook)?;
        let author = format!("file:{name}");
        let origin = if self.platform_files.built_in {
            "built-in"
        } else {
            "files"
        };
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
                    tx.put_meta(SOURCE_KEY, origin.as_bytes())?;
                    Ok(())
                },
            )
            .await
            .map_err(|e| match e {
                Error::FixturesFailed(cases) => Error::Policy(format!(
                    "`{name}` fails its fixtures: {}",
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
    ///
    /// A database whose platform policies came from files is never switched to the built-in
    /// ones because the directory is missing (a typo, a volume not mounted yet): that would
    /// silently replace the operator's rules. The server refuses to start instead.
    pub async fn sync_platform_files(&self) -> Result<()> {
        let had_files = self.store.read(|view| {
            Ok(match view.meta(SOURCE_KEY)?.as_deref() {
                Some(source) => source == b"files",
                // Written before the source was kept: any synced file was a file.
                None => view.meta(&meta_key(Hook::Authorize))?.is_some(),
            })
        })?;
        if self.platform_files.built_in && had_files {
            return Err(Error::Setup(format!(
                "the platform policy directory `{}` does not exist, but this database's platform \
                 policies were loaded from files there: restore it (or `tenantry init` a new one), \
                 or point --policies at it; the built-in policies serve only a database that never \
                 had files",
                self.platform_files.dir.display()
            )));
        }
        for hook in Hook::ALL {
            self.sync_platform_file(hook).await?;
        }
        Ok(())
    }

    /// Watches the policy directory until the task is dropped (built-in policies: nothing to
    /// watch).
    pub async fn watch_platform_files(self) {
        if self.platform_files.built_in {
            return;
        }
        let (events, mut changed) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|event| changes_a_file(&event.kind)) {
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

/// Whether a file event may have changed a policy file. Opening and reading a file are events
/// too (inotify's `IN_OPEN`, which notify asks for): reacting to them made every re-scan, which
/// opens the files, trigger the next one 50 ms later, forever, hashing the policy files twenty
/// times a second on an idle server.
///
/// A file closed after writing still counts: it is the writer's last step.
fn changes_a_file(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Remove(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Any
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_policy_files_is_not_a_change() {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};
        assert!(!changes_a_file(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!changes_a_file(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes_a_file(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(changes_a_file(&EventKind::Create(CreateKind::File)));
        assert!(changes_a_file(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
    }

    #[test]
    fn a_file_that_stays_broken_is_reported_once_per_change() {
        let files = PlatformFiles::new(PathBuf::from("policies"));
        let broken = || Some("share.rhai:3: expected `)`".to_owned());
        assert!(files.set(Hook::Share, None, broken()), "first seen");
        assert!(!files.set(Hook::Share, None, broken()), "the next scans");
        assert!(files.set(Hook::Share, None, Some("share.rhai:9: other".into())));
        assert_eq!(files.failing().len(), 1);
        assert!(files.set(Hook::Share, None, None), "fixed");
        assert!(!files.set(Hook::Share, None, None));
        assert!(files.failing().is_empty());
    }
}
