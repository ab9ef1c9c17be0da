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

/// [`KINDS`]' index of a Rhai policy.
pub const RHAI: usize = 0;
/// [`KINDS`]' index of a Wasm plugin.
pub const WASM: usize = 1;
/// The kinds of policy, as metrics and listings name them.
pub const KINDS: [&str; 2] = {
    let mut kinds = [""; 2];
    kinds[RHAI] = "rhai";
    kinds[WASM] = "wasm";
    kinds
};

/// The next [`Code::Wasm`] binding number.
fn next_binding() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub struct CompiledPolicy {
    /// Set when compiled and never changed after ([`version`](Self::version) is built from it).
    pub hook: Hook,
    /// The file, upload or plugin it came from, for messages.
    pub name: String,
    /// Of the Rhai source, or of the plugin component. Set when compiled and never changed
    /// after, like `hook`.
    pub sha256: String,
    /// The version number once stored; 0 for a candidate or a file not yet stored
    /// ([`set_number`](Self::set_number)).
    number: u32,
    /// [`version`](Self::version), written when the number is: every layer of every decision
    /// names it, and formatting it there was 4% of a one-layer Rhai decision.
    version: String,
    pub code: Code,
    /// Skips this version for a while, for an organization whose calls keep running it to its
    /// limits.
    pub breakers: super::breaker::Breakers,
}

impl CompiledPolicy {
    /// The plugin `sha256` as one layer's policy for `hook`; `config` is what the plugin
    /// receives.
    pub fn plugin(hook: Hook, sha256: String, config: String) -> Self {
        let name = format!("plugin {}", sha256.get(..12).unwrap_or_default());
        let code = Code::Wasm {
            config,
            binding: next_binding(),
        };
        Self::new(hook, name, sha256, code)
    }

    /// A version not yet stored (number 0).
    pub fn new(hook: Hook, name: String, sha256: String, code: Code) -> Self {
        let mut policy = Self {
            hook,
            name,
            sha256,
            number: 0,
            version: String::new(),
            code,
            breakers: Default::default(),
        };
        policy.set_number(0);
        policy
    }

    /// The version number once stored; 0 for a candidate or a file not yet stored.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Numbers this version as stored.
    pub fn set_number(&mut self, number: u32) {
        self.number = number;
        let sha = self.sha256.get(..12).unwrap_or(&self.sha256);
        self.version = format!("{} v{} ({})", self.hook.name(), number, sha);
    }

    /// `authorize v3 (1f2e3d4c5b6a)`
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `rhai` or `wasm`.
    pub fn kind(&self) -> &'static str {
        KINDS[self.kind_index()]
    }

    /// Its kind's place in [`KINDS`].
    pub fn kind_index(&self) -> usize {
        match self.code {
            Code::Rhai(_) => RHAI,
            Code::Wasm { .. } => WASM,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_the_number_once_stored() {
        let mut policy = CompiledPolicy::plugin(Hook::Link, "0123456789abcdef".into(), "{}".into());
        assert_eq!(policy.version(), "link v0 (0123456789ab)");
        policy.set_number(7);
        assert_eq!(
            (policy.number(), policy.version()),
            (7, "link v7 (0123456789ab)")
        );
    }
}
