//! A policy version ready to run: Rhai source compiled to an AST, or a Wasm plugin with its
//! binding's configuration.

use std::sync::atomic::{AtomicU64, Ordering};

use super::hook::Hook;

pub enum Code {
    Rhai(rhai::AST),
    /// The plugin named by the policy's `sha256`, loaded when a call needs it
    /// (`wasm::resident`).
    Wasm {
        /// The JSON configuration given when the plugin was bound.
        config: String,
        /// Unique to this value in this process, never reused: the key under which its
        /// instances may be reused (`wasm::warm`), so that a rebind, even to the same plugin
        /// and config, starts from fresh instances.
        binding: u64,
    },
}

/// The next [`Code::Wasm`] binding number.
fn next_binding() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub struct CompiledPolicy {
    pub hook: Hook,
    /// The file, upload or plugin it came from, for messages.
    pub name: String,
    /// Of the Rhai source, or of the plugin component.
    pub sha256: String,
    /// The version number once stored; 0 for a candidate or a file not yet stored.
    pub number: u32,
    pub code: Code,
    /// Skips this version for a while, for an organization whose calls keep running it to its
    /// limits.
    pub breakers: super::breaker::Breakers,
}

impl CompiledPolicy {
    /// The plugin `sha256` as one layer's policy for `hook`; `config` is what the plugin
    /// receives.
    pub fn plugin(hook: Hook, sha256: String, config: String) -> Self {
        Self {
            hook,
            name: format!("plugin {}", sha256.get(..12).unwrap_or_default()),
            sha256,
            number: 0,
            code: Code::Wasm {
                config,
                binding: next_binding(),
            },
            breakers: Default::default(),
        }
    }

    /// `authorize v3 (1f2e3d4c5b6a)`
    pub fn version(&self) -> String {
        let sha = self.sha256.get(..12).unwrap_or(&self.sha256);
        format!("{} v{} ({})", self.hook.name(), self.number, sha)
    }

    pub fn kind(&self) -> &'static str {
        match self.code {
            Code::Rhai(_) => "rhai",
            Code::Wasm { .. } => "wasm",
        }
    }
}
