//! What one plugin call may use. Published in the README and printed by `tenantry plugin check`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WasmLimits {
    /// Instructions (wasmtime fuel) per call.
    pub fuel: u64,
    /// Wall-clock budget per call, enforced by epoch interruption.
    pub deadline_ms: u64,
    /// Linear memory per instance.
    pub max_memory_bytes: usize,
    /// Table elements per table.
    pub max_table_elements: usize,
    /// The JSON `resource` and `config` handed to a call, each.
    pub max_input_bytes: usize,
    /// The reason a plugin returns.
    pub max_output_bytes: usize,
    /// The component file at upload.
    pub max_module_bytes: usize,
    /// Functions defined in all the component's modules together, at upload: with the size,
    /// what bounds the time and memory one upload's compilation takes.
    pub max_functions: usize,
    /// Instances parked for reuse over all plugins whose calls are expensive on a fresh
    /// instance (JavaScript); 0 turns reuse off, 64 at most. Each holds a slot of the instance
    /// pool and the memory its calls wrote.
    pub warm_instances: usize,
    /// Plugins kept loaded at once, at least 1 (0 is refused at start-up). A plugin is loaded
    /// by its first call; past this many, the least recently called is dropped and loaded
    /// again from its artifact file by its next call (`wasm::resident`). Each loaded plugin
    /// holds its component's type tables and the mapping of its code.
    pub loaded_plugins: usize,
}

impl Default for WasmLimits {
    fn default() -> Self {
        Self {
            fuel: 50_000_000,
            deadline_ms: 100,
            max_memory_bytes: 32 << 20,
            max_table_elements: 20_000,
            max_input_bytes: 64 << 10,
            max_output_bytes: 4 << 10,
            max_module_bytes: 16 << 20,
            max_functions: 16_000,
            warm_instances: 16,
            loaded_plugins: 512,
        }
    }
}
