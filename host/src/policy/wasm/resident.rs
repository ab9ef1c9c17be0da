//! Which plugins are loaded: memory follows the plugins in use, not the plugins bound.
//!
//! A binding names its plugin by SHA-256. The plugin's loaded form (its component's type and
//! function tables, the mapping of its code, its `InstancePre`) costs memory whether it is
//! called or not: at 100,000 organizations with 999 distinct plugins bound, loading them all at
//! start-up held 436 MiB before a single call (BENCHMARKS.md, "Scale"). So a plugin is loaded by
//! the first call that needs it and stays while it is among the
//! [`loaded_plugins`](super::WasmLimits::loaded_plugins) most recently called (to the
//! resolution of one load: calls between two loads count as simultaneous); past that, the
//! least recently called is dropped, and its next call loads it again (from its artifact file:
//! about a millisecond, not a compilation).
//!
//! Loads are made one at a time, by whichever call needs one. A burst of calls to one cold
//! plugin loads it once (the others find it loaded when their turn comes), and a tenant whose
//! calls cycle through more plugins than fit can spend at most one core's worth of loading,
//! never the whole machine's: what it costs its neighbours is their own plugin's reload when it
//! was pushed out, bounded by the same lock (THREATS.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::LoadedPlugin;

/// Loads a plugin by SHA-256 (what the server stores: its artifact file, its MAC-checked
/// artifact, or its component compiled again).
pub type Loader<T> = dyn Fn(&str) -> Result<T, String> + Send + Sync;

/// One loaded plugin and when it was last asked for.
struct Resident<T> {
    plugin: Arc<T>,
    /// The [`ResidentPlugins::clock`] reading of its last use.
    used: AtomicU64,
}

/// Loaded plugins by SHA-256. foldhash rather than SipHash: the map is read on every plugin
/// call, and its keys are SHA-256 digests of components already accepted, not chosen to
/// collide.
type Loaded<T> = HashMap<String, Resident<T>, foldhash::fast::RandomState>;

/// The loaded plugins of one process, at most `budget` of them.
pub struct ResidentPlugins<T = LoadedPlugin> {
    budget: usize,
    loaded: RwLock<Loaded<T>>,
    /// Advances with each load, not each use: a call only reads it, and writes its plugin's
    /// `used` only when that changes, so the calls of a busy plugin on every core do not all
    /// write one cache line. Calls between two loads count as simultaneous, which is all the
    /// order eviction needs.
    clock: AtomicU64,
    /// Set once the server can load plugins; an offline tool keeps what it loaded itself.
    loader: OnceLock<Box<Loader<T>>>,
    /// Held while a plugin is loaded, so that loads happen one at a time.
    loading: Mutex<()>,
}

impl<T> ResidentPlugins<T> {
    /// Keeps at most `budget` plugins loaded (at least one).
    pub fn new(budget: usize) -> Self {
        Self {
            budget: budget.max(1),
            loaded: RwLock::default(),
            clock: AtomicU64::new(0),
            loader: OnceLock::new(),
            loading: Mutex::new(()),
        }
    }

    /// How plugins that are not loaded are loaded; only the first call counts.
    pub fn set_loader(&self, loader: Box<Loader<T>>) {
        let _ = self.loader.set(loader);
    }

    /// The plugin `sha256`, loaded now if it is not.
    pub fn get(&self, sha256: &str) -> Result<Arc<T>, String> {
        if let Some(plugin) = self.cached(sha256) {
            return Ok(plugin);
        }
        let _one_at_a_time = self
            .loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another call may have loaded it while this one waited.
        if let Some(plugin) = self.cached(sha256) {
            return Ok(plugin);
        }
        let loader = self
            .loader
            .get()
            .ok_or_else(|| format!("plugin `{sha256}` is not loaded"))?;
        let plugin = loader(sha256)?;
        crate::metrics::record_plugin_load();
        Ok(self.keep(sha256, Arc::new(plugin)))
    }

    /// The plugin `sha256` if it is loaded, marked as just used.
    pub fn cached(&self, sha256: &str) -> Option<Arc<T>> {
        let loaded = self.read();
        let resident = loaded.get(sha256)?;
        let now = self.clock.load(Ordering::Relaxed);
        if resident.used.load(Ordering::Relaxed) != now {
            resident.used.store(now, Ordering::Relaxed);
        }
        Some(Arc::clone(&resident.plugin))
    }

    /// Keeps `plugin` loaded as `sha256` (replacing a copy loaded before), dropping the least
    /// recently used past the budget; returns it.
    pub fn keep(&self, sha256: &str, plugin: Arc<T>) -> Arc<T> {
        let resident = Resident {
            plugin: Arc::clone(&plugin),
            used: AtomicU64::new(self.tick()),
        };
        // Dropped after the lock is released: dropping a component unmaps its code.
        let (evicted, count) = {
            let mut loaded = self.write();
            loaded.insert(sha256.to_owned(), resident);
            let mut evicted = Vec::new();
            while loaded.len() > self.budget {
                // Never the one just kept: calls since the last load tie with it.
                let Some(oldest) = loaded
                    .iter()
                    .filter(|(sha, _)| sha.as_str() != sha256)
                    .min_by_key(|(_, r)| r.used.load(Ordering::Relaxed))
                    .map(|(sha, _)| sha.clone())
                else {
                    break;
                };
                evicted.extend(loaded.remove(&oldest));
            }
            (evicted, loaded.len())
        };
        crate::metrics::set_plugins_loaded(count);
        drop(evicted);
        plugin
    }

    /// Drops `sha256`'s loaded copy (calls in flight keep theirs).
    pub fn forget(&self, sha256: &str) {
        let (removed, count) = {
            let mut loaded = self.write();
            (loaded.remove(sha256), loaded.len())
        };
        crate::metrics::set_plugins_loaded(count);
        drop(removed);
    }

    /// The SHA-256 of every loaded plugin.
    pub fn shas(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded<T>> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Loaded<T>> {
        self.loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A residency of plugins that are their own name, counting what its loader loads.
    fn counting(budget: usize) -> (Arc<ResidentPlugins<String>>, Arc<AtomicUsize>) {
        let plugins = Arc::new(ResidentPlugins::new(budget));
        let loads = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&loads);
        plugins.set_loader(Box::new(move |sha: &str| {
            counted.fetch_add(1, Ordering::Relaxed);
            if sha == "broken" {
                return Err("its artifact does not load".to_owned());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(sha.to_owned())
        }));
        (plugins, loads)
    }

    #[test]
    fn past_the_budget_the_least_recently_called_is_dropped_and_loaded_again_when_called() {
        let (plugins, loads) = counting(2);
        assert_eq!(*plugins.get("a").unwrap(), "a");
        plugins.get("b").unwrap();
        plugins.get("a").unwrap();
        assert_eq!(loads.load(Ordering::Relaxed), 2, "a is loaded once");
        plugins.get("c").unwrap();
        let mut loaded = plugins.shas();
        loaded.sort();
        assert_eq!(loaded, ["a", "c"], "b was the least recently called");
        assert_eq!(*plugins.get("b").unwrap(), "b");
        assert_eq!(loads.load(Ordering::Relaxed), 4, "b is loaded again");
        assert_eq!(plugins.len(), 2);
    }

    /// The clock advances per load, so plugins called since the last load tie with the one
    /// loaded now: that one stays, and one of the others goes.
    #[test]
    fn the_plugin_just_loaded_stays_when_the_others_were_called_since_the_last_load() {
        let (plugins, loads) = counting(2);
        plugins.get("a").unwrap();
        plugins.get("b").unwrap();
        plugins.get("a").unwrap();
        plugins.get("b").unwrap();
        plugins.get("c").unwrap();
        assert!(
            plugins.shas().contains(&"c".to_owned()),
            "{:?}",
            plugins.shas()
        );
        assert_eq!(plugins.len(), 2);
        plugins.get("c").unwrap();
        assert_eq!(loads.load(Ordering::Relaxed), 3, "c is not loaded twice");
    }

    #[test]
    fn a_burst_of_calls_to_a_cold_plugin_loads_it_once() {
        let (plugins, loads) = counting(8);
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let plugins = Arc::clone(&plugins);
                std::thread::spawn(move || plugins.get("cold").unwrap())
            })
            .collect();
        for caller in callers {
            assert_eq!(*caller.join().unwrap(), "cold");
        }
        assert_eq!(loads.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_plugin_that_does_not_load_says_why_and_is_not_kept() {
        let (plugins, _) = counting(2);
        assert_eq!(
            plugins.get("broken").unwrap_err(),
            "its artifact does not load"
        );
        assert!(plugins.is_empty());
        let offline = ResidentPlugins::<String>::new(1);
        assert_eq!(
            offline.get("x").unwrap_err(),
            "plugin `x` is not loaded",
            "without a loader only what was kept is there"
        );
        offline.keep("x", Arc::new("x".to_owned()));
        assert_eq!(*offline.get("x").unwrap(), "x");
    }
}
