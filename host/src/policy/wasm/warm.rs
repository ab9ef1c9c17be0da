//! Warm instances: reuse for plugins whose every call is expensive on a fresh instance.
//!
//! A component that embeds a language runtime (a JavaScript plugin built with componentize-js
//! carries SpiderMonkey) spends about two million instructions per call setting up its engine,
//! against a few thousand for a plugin compiled from Rust (BENCHMARKS.md, "Plugins in
//! JavaScript"). For those plugins, and only those (a call on a fresh instance used at least
//! [`REUSE_FROM_FUEL`]), the runtime parks the instance after a live call that answered and
//! hands it to the next live call with the same key. What a reused instance can carry from one call into the next is only what the same
//! plugin, bound the same way, kept while deciding for the same organization:
//!
//! - the key is the binding (a number unique to one bound value of one plugin and config,
//!   never reused, so a rebind or an unbind starts from fresh instances) and the organization
//!   decided for: never shared across tenants or across bindings, and a provider's plugin keeps
//!   one set of instances per customer;
//! - before each call the store is reset: full fuel, a new deadline, no logs, the memory flag
//!   cleared; its linear memory is not (that is the point of reusing it);
//! - an instance is dropped after any fault (a call that fails on a reused instance is made
//!   again on a fresh one, so what earlier calls left can never turn into a deny), and after
//!   [`MAX_CALLS`] calls, which bounds what a runtime that never collects garbage accumulates;
//! - trials (dry runs, previews, diffs, `plugin run`) never reuse: their inputs are chosen by
//!   whoever runs them and must not shape later live decisions.
//!
//! Each parked instance holds a slot of the pooling allocator, so at most
//! [`WasmLimits::warm_instances`](super::WasmLimits) (and never more than [`MAX_PARKED`]) are
//! parked over all plugins; past that, the least recently used is dropped, and when a fresh
//! instance finds the pool full, every parked one is.

use std::sync::Mutex;
use std::time::Instant;

use wasmtime::Store;

use super::Instance;
use super::sandbox::Sandbox;

/// Fuel that one call on a fresh instance must use for the plugin's instances to be reused
/// from then on: about 25× a decision of a plugin compiled from Rust, a tenth of a JavaScript
/// plugin's.
pub const REUSE_FROM_FUEL: u64 = 250_000;

/// Calls one instance answers before it is retired.
pub const MAX_CALLS: u32 = 100;

/// The most instances parked, whatever `warm_instances` says: a quarter of the pool's 256
/// component instances, so fresh calls always find slots.
pub const MAX_PARKED: usize = 64;

/// Who may reuse an instance: one binding deciding for one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmKey {
    /// Unique to one bound value (plugin and config); see `Code::Wasm`.
    pub binding: u64,
    /// The organization decided for; 0 for decisions about no organization.
    pub org: u128,
}

/// An instance between two calls.
pub(super) struct Parked {
    key: WarmKey,
    pub store: Store<Sandbox>,
    pub instance: Instance,
    calls: u32,
    last_used: Instant,
}

impl Parked {
    pub fn new(key: WarmKey, store: Store<Sandbox>, instance: Instance) -> Self {
        Self {
            key,
            store,
            instance,
            calls: 0,
            last_used: Instant::now(),
        }
    }
}

/// The parked instances of one runtime, least recently used first to go.
pub(super) struct WarmInstances {
    parked: Mutex<Vec<Parked>>,
    capacity: usize,
}

impl WarmInstances {
    pub fn new(capacity: usize) -> Self {
        Self {
            parked: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Parked>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An instance parked under `key`, taken out: no other call can use it meanwhile.
    pub fn take(&self, key: WarmKey) -> Option<Parked> {
        let mut parked = self.lock();
        let at = parked.iter().position(|p| p.key == key)?;
        Some(parked.swap_remove(at))
    }

    /// Drops every parked instance; says how many there were.
    pub fn clear(&self) -> usize {
        let parked = std::mem::take(&mut *self.lock());
        parked.len()
    }

    /// Parks an instance that has just answered, unless it has answered [`MAX_CALLS`].
    pub fn park(&self, mut instance: Parked) {
        instance.calls += 1;
        if instance.calls >= MAX_CALLS || self.capacity == 0 {
            return;
        }
        instance.last_used = Instant::now();
        // The evicted instance is dropped after the lock is released: dropping returns its
        // slot to the pool, which is not free.
        let evicted = {
            let mut parked = self.lock();
            let evicted = if parked.len() >= self.capacity {
                parked
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, p)| p.last_used)
                    .map(|(at, _)| at)
                    .map(|at| parked.swap_remove(at))
            } else {
                None
            };
            parked.push(instance);
            evicted
        };
        drop(evicted);
    }
}
