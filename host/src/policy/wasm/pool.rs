//! The instance pool: how many slots of each kind the engine reserves, what a slot keeps
//! between calls, and what the idle slots hold now.
//!
//! Every call instantiates its plugin in pool slots reserved when the engine starts, so a call
//! never maps memory of its own. Two settings decide what a call costs:
//!
//! - A slot is reset for the next call, not unmapped: the first [`KEEP_RESIDENT`] bytes stay
//!   resident and only the pages the last call touched are reset (found with `PAGEMAP_SCAN`,
//!   Linux 6.7+). Resetting with `madvise` instead makes the next call fault every page back
//!   in, most of a call's cost (measured).
//! - A memory slot last used by the same plugin ("affine") is reused as it is; any other slot
//!   must have the plugin's memory image mapped in again and every page the call touches
//!   faulted in. wasmtime keeps only `max_unused_warm_slots` idle slots affine (100 by
//!   default, split over its shards: one per core up to 16, each thread looking for a warm
//!   slot in its own), so 250 organizations calling their own plugins in turn never found
//!   their own slot: a full decision at 100,000 organizations took 3.5× as long as at 1,000,
//!   and 2× once every slot could stay warm (BENCHMARKS.md, "Pool slot affinity"). All
//!   [`MEMORY_SLOTS`] may stay warm when the kernel has `PAGEMAP_SCAN`: without it a reset
//!   zeroes all of a slot's [`KEEP_RESIDENT`] bytes whether calls touched them or not, so every
//!   warm slot would hold that much, and wasmtime's default count is kept.
//!
//! A slot is address space; between calls it keeps resident the pages calls touched, at most
//! [`KEEP_RESIDENT`]. The total is fixed rather than per core so that this bound does not grow
//! with the machine; on more cores each thread's shard holds fewer (1,024 / cores).

use wasmtime::{Enabled, Engine, PoolingAllocationConfig};

use super::WasmLimits;

/// How much of a memory or table slot stays mapped between calls: a Rust plugin's stack (1 MiB
/// by Rust's default, 64 KiB as the example plugins link it), its data and its first heap
/// pages.
pub const KEEP_RESIDENT: usize = 2 << 20;

/// Linear-memory slots, every one allowed to stay warm for the plugin that used it last: room
/// for each of the `loaded_plugins` (512 by default) to keep a slot on each of two cores. At
/// most 2 GiB resident if every slot's plugin touched all of its [`KEEP_RESIDENT`] bytes.
/// Table slots are never kept warm by wasmtime; each keeps at most its `max_table_elements`
/// (20,000 × 8 bytes by default).
pub const MEMORY_SLOTS: u32 = 1024;

/// The pool for an engine whose plugins run under `limits`.
pub fn config(limits: &WasmLimits) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(256)
        .total_core_instances(1024)
        .total_memories(MEMORY_SLOTS)
        .total_tables(512)
        .max_memory_size(limits.max_memory_bytes)
        .table_elements(limits.max_table_elements)
        .max_core_instances_per_component(32)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.max_unused_warm_slots(MEMORY_SLOTS);
    }
    pool
}

/// The memory slots no call holds now, and what they keep resident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdleMemory {
    /// Slots kept warm (affine to the plugin that used them last).
    pub warm_slots: u32,
    /// Bytes those slots keep resident.
    pub resident_bytes: usize,
}

/// What the idle memory slots of `engine`'s pool hold now (zero for an engine without one), as
/// wasmtime counts it: a slot freed by an unloaded plugin counts nothing, though the zeroed
/// pages past its image stay resident until the slot is next used.
pub fn idle_memory(engine: &Engine) -> IdleMemory {
    engine
        .pooling_allocator_metrics()
        .map(|pool| IdleMemory {
            warm_slots: pool.unused_warm_memories(),
            resident_bytes: pool.unused_memory_bytes_resident(),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use wasmtime::Store;
    use wasmtime::component::{Component, Linker};

    use super::super::{Sandbox, WasmRuntime};
    use super::*;

    /// A component whose one module writes to every page of its 4 MiB memory when
    /// instantiated: twice what a slot keeps resident.
    const TOUCHES_4_MIB: &str = r#"
        (component
          (core module
            (memory 64)
            (func $touch (local $at i32)
              (loop $pages
                (i32.store (local.get $at) (i32.const 1))
                (local.set $at (i32.add (local.get $at) (i32.const 4096)))
                (br_if $pages (i32.lt_u (local.get $at) (i32.const 4194304)))))
            (start $touch))
          (core instance (instantiate 0)))
    "#;

    /// wasmtime's default `max_unused_warm_slots`, kept where `PAGEMAP_SCAN` is missing.
    const WASMTIME_DEFAULT_WARM: u32 = 100;

    /// wasmtime's shards: one per core, at most 16 (`default_shard_count`).
    fn shards() -> u32 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(16) as u32)
    }

    /// More plugins than wasmtime keeps warm by default in one thread's shard are called in
    /// turn, twice: every one still has its slot afterwards, and the slots keep at most
    /// [`KEEP_RESIDENT`] each of the 4 MiB every call touched (as wasmtime counts it; the
    /// lower bound fails if nothing were kept). Without `PAGEMAP_SCAN` the default is kept.
    #[test]
    fn plugins_called_in_turn_keep_their_slots_and_no_more_than_the_resident_bound() {
        let per_shard = (MEMORY_SLOTS / shards()) as usize;
        let default_per_shard = (WASMTIME_DEFAULT_WARM / shards()) as usize;
        let plugins_called = (per_shard - 4).min(150);
        assert!(plugins_called > default_per_shard);
        let runtime = WasmRuntime::new(WasmLimits::default()).unwrap();
        let engine = &runtime.engine;
        let bytes = wat::parse_str(TOUCHES_4_MIB).unwrap();
        let plugins: Vec<Component> = (0..plugins_called)
            .map(|_| Component::new(engine, &bytes).unwrap())
            .collect();
        let linker = Linker::<Sandbox>::new(engine);
        for _round in 0..2 {
            for plugin in &plugins {
                let mut store = Store::new(engine, Sandbox::new(8 << 20, 100));
                store.set_fuel(10_000_000).unwrap();
                store.set_epoch_deadline(1_000);
                linker.instantiate(&mut store, plugin).unwrap();
            }
        }
        let idle = idle_memory(engine);
        let warm = idle.warm_slots as usize;
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            assert_eq!(warm, plugins_called, "{idle:?}");
        } else {
            assert!(warm <= WASMTIME_DEFAULT_WARM as usize, "{idle:?}");
        }
        assert!(
            idle.resident_bytes <= warm * KEEP_RESIDENT,
            "{idle:?}: more than {KEEP_RESIDENT} bytes a slot"
        );
        assert!(idle.resident_bytes >= warm * 4096, "{idle:?}");
    }
}
