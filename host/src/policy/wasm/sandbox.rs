//! The per-call store state: a WASI context with no capabilities and deterministic clocks and
//! randomness, and resource limits that remember whether memory growth was refused (so the
//! failure can be named `memory_limit` rather than a bare trap).

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// A clock stopped at the Unix epoch: plugins decide from the input's `now`, never the host's.
struct Stopped;

impl HostWallClock for Stopped {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Stopped {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Caps memory and tables, and notes a refused memory growth.
pub struct Limiter {
    max_memory: usize,
    max_table_elements: usize,
    pub memory_refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        let ok = desired <= self.max_memory;
        if !ok {
            self.memory_refused = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

/// No files, network, environment or arguments; stopped clocks; fixed randomness.
fn empty_context() -> WasiCtx {
    WasiCtx::builder()
        .wall_clock(Stopped)
        .monotonic_clock(Stopped)
        .secure_random(wasmtime_wasi::Deterministic::new(vec![0]))
        .insecure_random(wasmtime_wasi::Deterministic::new(vec![0]))
        .insecure_random_seed(0)
        .build()
}

pub struct Sandbox {
    /// Built on the first WASI call: capability-free plugins never make one.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub limiter: Limiter,
}

impl Sandbox {
    pub fn new(max_memory: usize, max_table_elements: usize) -> Self {
        Self {
            wasi: None,
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory,
                max_table_elements,
                memory_refused: false,
            },
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(empty_context),
            table: &mut self.table,
        }
    }
}
