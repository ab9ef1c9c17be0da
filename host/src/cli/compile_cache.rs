//! Compiled plugins kept between offline commands, so that `plugin check`, `plugin run` and
//! `policy test` of the same component compile it once (a JavaScript plugin takes about a
//! minute of one core), like the server, which keeps its artifacts in its database.
//!
//! The cache is a directory of the user's (`$XDG_CACHE_HOME/tenantry/plugins`, else
//! `~/.cache/tenantry/plugins`); an entry is named by the component's SHA-256 and the upload
//! limits it was checked under, so a tighter limit checks the component again. wasmtime
//! refuses an artifact from another build or configuration, and then the component is compiled
//! again; a cache that cannot be read or written is only slower.

use std::path::{Path, PathBuf};

use crate::policy::rhai_policy::PolicyFault;
use crate::policy::wasm::{LoadedPlugin, WasmRuntime, sha256_hex};

/// The user's cache directory for compiled plugins, if there is a home to put it in.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("tenantry").join("plugins"))
}

/// The component compiled and checked as the server would, from `dir` when it holds it.
pub fn compile(
    runtime: &WasmRuntime,
    bytes: &[u8],
    dir: Option<&Path>,
) -> Result<LoadedPlugin, PolicyFault> {
    let Some(dir) = dir else {
        return runtime.compile(bytes).map(|(plugin, _)| plugin);
    };
    let sha = sha256_hex(bytes);
    let limits = runtime.limits;
    let entry = dir.join(format!(
        "{sha}-{}-{}.cwasm",
        limits.max_module_bytes, limits.max_functions
    ));
    // An entry starts with the SHA-256 it was compiled from: a file renamed or copied over
    // another entry is compiled again rather than taken for it.
    if let Ok(stored) = std::fs::read(&entry)
        && let Some(artifact) = stored.strip_prefix(sha.as_bytes())
        && let Some(plugin) = runtime.load_artifact(artifact, &sha, bytes.len(), None)
    {
        return Ok(plugin);
    }
    let (plugin, artifact) = runtime.compile(bytes)?;
    // Written aside and renamed, so a reader never sees half an artifact.
    let aside = entry.with_extension(format!("{}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&aside, [sha.as_bytes(), &artifact].concat()))
        .and_then(|()| std::fs::rename(&aside, &entry));
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
    Ok(plugin)
}
