//! `tenantry plugin check FILE`.

use std::path::Path;

use crate::policy::wasm::{WasmLimits, WasmRuntime};

/// Prints the plugin's identity and limits; exit code 1 when it is not a valid plugin.
pub fn check(file: &Path) -> anyhow::Result<i32> {
    let bytes = std::fs::read(file)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", file.display()))?;
    let limits = WasmLimits::default();
    let runtime = WasmRuntime::new(limits).map_err(|e| anyhow::anyhow!(e))?;
    match runtime.compile(&bytes) {
        Ok((plugin, _)) => {
            let hooks: Vec<&str> = plugin.hooks.iter().map(|h| h.name()).collect();
            println!("plugin   {}", file.display());
            println!("sha256   {}", plugin.sha256);
            println!("size     {} bytes", plugin.size);
            println!("hooks    {}", hooks.join(", "));
            println!(
                "limits   fuel {} per call, deadline {} ms, memory {} bytes, table {} elements,",
                limits.fuel, limits.deadline_ms, limits.max_memory_bytes, limits.max_table_elements
            );
            println!(
                "         input {} bytes, output {} bytes, component {} bytes",
                limits.max_input_bytes, limits.max_output_bytes, limits.max_module_bytes
            );
            Ok(0)
        }
        Err(fault) => {
            println!(
                "invalid plugin `{}`: {}: {}",
                file.display(),
                fault.kind,
                fault.message
            );
            Ok(1)
        }
    }
}
