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
///
/// The memory cap is for the whole instance: a component has a memory per core module (a
/// WASI build has at least two), and a cap per memory would let it hold several times the
/// limit. wasmtime asks before creating or growing any memory, saying how large that memory is
/// and would be, so the sum of the memories is kept here.
pub struct Limiter {
    max_memory: usize,
    max_table_elements: usize,
    /// Bytes of every linear memory of the instance together.
    memory_in_use: usize,
    pub memory_refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        let total = self
            .memory_in_use
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.max_memory {
            self.memory_refused = true;
            return Ok(false);
        }
        self.memory_in_use = total;
        Ok(true)
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

/// Lines a call keeps of what the plugin logs, and the bytes of each.
pub const MAX_LOG_LINES: usize = 20;
pub const MAX_LOG_BYTES: usize = 1_000;

pub struct Sandbox {
    /// Built on the first WASI call: capability-free plugins never make one.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub limiter: Limiter,
    /// What the plugin logged in this call (`level: message`), at most [`MAX_LOG_LINES`].
    pub logs: Vec<String>,
    /// Lines past [`MAX_LOG_LINES`], counted and not kept.
    pub dropped_logs: u32,
}

impl super::contract::bindings::tenantry::policy::log::Host for Sandbox {
    fn write(
        &mut self,
        level: super::contract::bindings::tenantry::policy::log::LogLevel,
        message: String,
    ) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs = self.dropped_logs.saturating_add(1);
            return;
        }
        let mut line = format!("{}: {message}", super::contract::log_level(level));
        if line.len() > MAX_LOG_BYTES {
            let mut end = MAX_LOG_BYTES;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
        self.logs.push(line);
    }
}

impl Sandbox {
    pub fn new(max_memory: usize, max_table_elements: usize) -> Self {
        Self {
            wasi: None,
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory,
                max_table_elements,
                memory_in_use: 0,
                memory_refused: false,
            },
            logs: Vec::new(),
            dropped_logs: 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cap_counts_every_memory_of_the_instance() {
        let mut limiter = Sandbox::new(10 << 20, 100).limiter;
        // Two modules each take 4 MiB, then one grows to 6 MiB: 10 MiB, at the cap.
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(4 << 20, 6 << 20, None).unwrap());
        assert!(!limiter.memory_refused);
        // One byte past it is refused, and remembered for the error's name.
        assert!(
            !limiter
                .memory_growing(4 << 20, (4 << 20) + 1, None)
                .unwrap()
        );
        assert!(limiter.memory_refused);
    }
}
