//! Compiled plugin artifacts as files in the data directory, so that a loaded plugin's native
//! code is a mapping of its file rather than a copy in the heap.
//!
//! `Component::deserialize` copies an artifact into anonymous memory (and its initial heap
//! image into a memfd): every loaded plugin's code stays resident whether it is called or not,
//! and can only be swapped. `Component::deserialize_file` maps the file instead: clean pages the
//! kernel shares with its page cache and may drop under memory pressure. With 999 distinct
//! plugins bound at 100,000 organizations the process went from 1,138 MiB to 925 MiB resident
//! (BENCHMARKS.md, "Scale").
//!
//! The store's MAC-checked artifact stays the source of truth; a file is only ever written
//! from it (or from a compilation in this process), compared with it before each load, and
//! replaced by renaming a new file over it, never rewritten in place (a mapped file that
//! changed under its mapping would change the code). A file that cannot be written costs
//! memory, not correctness: the plugin is loaded from the bytes in memory instead.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The file at `path`, open, and what it holds.
fn read(path: &std::path::Path) -> std::io::Result<(File, Vec<u8>)> {
    let mut file = File::open(path)?;
    let mut held = Vec::new();
    file.read_to_end(&mut held)?;
    Ok((file, held))
}

/// Drops the file's pages from the page cache (`POSIX_FADV_DONTNEED`), so that its mapping is
/// paged in as the plugin uses it. A file just written or read whole sits in the cache in
/// large folios (Linux 6.18 on ext4: `FileHugePages`), and a fault on a mapping maps the whole
/// folio: at 100,000 organizations with 999 plugins, a start-up right after the files were
/// written had 534 MiB of them resident before any call, one whose cache had aged 198 MiB.
/// Only a hint: the file's contents are untouched.
fn uncache(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

/// The directory of artifact files, one `{sha256}.cwasm` per loaded plugin.
#[derive(Debug)]
pub struct ArtifactFiles {
    dir: PathBuf,
    /// Names this process's temporary files apart from each other.
    written: AtomicU64,
    /// The plugins whose file this process wrote or compared with their checked artifact: the
    /// only files it loads without comparing them again (`placed_path`).
    placed: Mutex<HashSet<String>>,
}

impl ArtifactFiles {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            written: AtomicU64::new(0),
            placed: Mutex::default(),
        }
    }

    fn placed_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.placed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The file of `sha256`'s plugin if this process placed it: checked against the artifact
    /// then, and replaced since only by renaming a file this process checked over it, so it
    /// can be loaded again without reading the artifact from the store.
    pub fn placed_path(&self, sha256: &str) -> Option<PathBuf> {
        if !self.placed_set().contains(sha256) {
            return None;
        }
        self.path_of(sha256).ok()
    }

    /// The plugins whose file this process placed.
    pub fn placed(&self) -> Vec<String> {
        self.placed_set().iter().cloned().collect()
    }

    /// The file of `sha256`'s plugin holding exactly `artifact`: the one there if it does,
    /// else a new one.
    pub fn place(&self, sha256: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        let placed = self.write_or_compare(sha256, artifact)?;
        self.placed_set().insert(sha256.to_owned());
        Ok(placed)
    }

    fn write_or_compare(&self, sha256: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path_of(sha256)?;
        if let Ok((file, held)) = read(&path)
            && held == artifact
        {
            uncache(&file);
            return Ok(path);
        }
        // Only the server's user may read or replace code the server maps (as `server.key`).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let temporary = self
            .dir
            .join(format!(".{sha256}.{}.{n}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(artifact)?;
                // Written back first: only clean pages leave the cache.
                file.sync_data()?;
                uncache(&file);
                Ok(())
            })
            .and_then(|()| std::fs::rename(&temporary, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map(|()| path)
    }

    /// Removes `sha256`'s file (a mapping of it stays valid until dropped).
    pub fn remove(&self, sha256: &str) {
        self.placed_set().remove(sha256);
        if let Ok(path) = self.path_of(sha256) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Removes the files this process did not place (those of plugins no longer bound, and any
    /// it has not checked), and temporary files left by a crash. Returns how many it removed.
    pub fn prune(&self) -> usize {
        let placed = self.placed_set().clone();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                let kept = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_suffix(".cwasm"))
                    .is_some_and(|sha| placed.contains(sha));
                !kept && std::fs::remove_file(path).is_ok()
            })
            .count()
    }

    /// Only a SHA-256 in hex names a file: the name can never leave the directory.
    fn path_of(&self, sha256: &str) -> std::io::Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{sha256}` is not a SHA-256"),
            ));
        }
        Ok(self.dir.join(format!("{sha256}.cwasm")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "3e019857814cb625d578bb91ad8f22acafe37912f631af5763c5a77e7466492c";

    #[test]
    fn a_file_is_replaced_when_it_holds_other_bytes_and_kept_when_it_holds_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let files = ArtifactFiles::new(dir.path().join("artifacts"));
        let path = files.place(SHA, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        let inode = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        let first = inode();
        assert_eq!(files.place(SHA, b"first").unwrap(), path);
        assert_eq!(inode(), first, "the same bytes are not written again");
        std::fs::write(&path, b"tampered").unwrap();
        files.place(SHA, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }

    #[test]
    fn only_the_servers_user_may_read_or_replace_the_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = ArtifactFiles::new(dir.path().join("artifacts"));
        let path = files.place(SHA, b"code").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("artifacts")), 0o700);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn only_a_sha256_names_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = ArtifactFiles::new(dir.path().to_path_buf());
        for bad in [
            "../../etc/passwd",
            "",
            &SHA[1..],
            &format!("{}/x", &SHA[2..]),
        ] {
            assert!(files.place(bad, b"x").is_err(), "{bad}");
        }
    }

    #[test]
    fn prune_keeps_what_this_process_placed_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let earlier = ArtifactFiles::new(dir.path().to_path_buf());
        let other = "0".repeat(64);
        let unchecked = earlier.place(&other, b"left by an earlier run").unwrap();
        let files = ArtifactFiles::new(dir.path().to_path_buf());
        let kept = files.place(SHA, b"kept").unwrap();
        std::fs::write(dir.path().join(".leftover.tmp"), b"crash").unwrap();
        assert_eq!(
            files.placed_path(&other),
            None,
            "not checked by this process"
        );
        assert_eq!(files.prune(), 2);
        assert!(kept.exists());
        assert!(!unchecked.exists());
        assert_eq!(files.placed_path(SHA), Some(kept.clone()));
        files.remove(SHA);
        assert_eq!(files.placed_path(SHA), None);
        assert!(!kept.exists());
    }
}
