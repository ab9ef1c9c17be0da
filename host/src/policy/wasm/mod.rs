//! Wasm plugins: one wasmtime `Engine` with the pooling allocator, a component per plugin
//! compiled once (and cached as an artifact), an `InstancePre` per plugin, and a fresh
//! instance per call, so no state survives between calls or tenants. The exception is a
//! plugin whose calls are expensive on a fresh instance (one embedding a JavaScript engine):
//! its instances are reused by later calls of the same binding for the same organization only
//! ([`warm`]).
//!
//! Each call runs under its own limits: fuel, an epoch deadline, linear memory and table size,
//! input and output size. Every failure is named (`out_of_fuel`, `deadline`, `memory_limit`,
//! `trap`, `invalid_input`, `invalid_output`, `output_too_large`) and, like a Rhai failure,
//! counts as `deny` for its layer.

pub mod contract;
pub mod convert;
mod hook_exports;
pub mod legacy;
pub mod limits;
pub mod pool;
pub mod resident;
pub mod sandbox;
mod warm;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Store, Trap};

pub use limits::WasmLimits;
use sandbox::Sandbox;
pub use warm::WarmKey;
use warm::{Parked, WarmInstances};

use super::Hook;
use super::rhai_policy::PolicyFault;
use super::verdict::Answer;

use crate::policy::input::PolicyInput;

/// How often the epoch advances; deadlines are counted in these ticks.
const TICK: Duration = Duration::from_millis(5);

/// Which contract a component implements, ready to instantiate.
enum Pre {
    Current {
        pre: contract::PluginPre<Sandbox>,
        hooks: Arc<hook_exports::HookExports>,
    },
    Legacy(legacy::PluginPre<Sandbox>),
}

/// One call's input as the record of the plugin's contract.
enum Record {
    Current(contract::Record),
    Legacy(legacy::Record),
}

enum Instance {
    /// With the hook exports of the component it is an instance of: a parked instance keeps
    /// answering through them after its plugin was dropped from memory and loaded again.
    Current {
        instance: wasmtime::component::Instance,
        hooks: Arc<hook_exports::HookExports>,
    },
    Legacy(legacy::Plugin),
}

/// What a plugin says it is (contract 0.2.0 and later).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Metadata {
    pub name: String,
    pub version: String,
}

/// What a plugin said of itself when it was first run (its hooks, contract and name), kept in
/// its stored record. A plugin loaded again with it is not run at load: its code stays unread
/// on disk until a decision calls it, so a server with a thousand bound plugins maps them
/// without paging them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub hooks: Vec<Hook>,
    pub contract: String,
    pub metadata: Option<Metadata>,
}

/// What a call used and wrote, besides its answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallReport {
    /// Fuel (about one per instruction) the call used.
    pub fuel: u64,
    /// Lines the plugin logged, `level: message`.
    pub logs: Vec<String>,
    /// Lines past the limit, not kept.
    pub dropped_logs: u32,
}

/// A plugin ready to instantiate.
pub struct LoadedPlugin {
    pub sha256: String,
    pub size: usize,
    /// Whether the component imports WASI (a `wasm32-wasip2` build) or nothing at all.
    pub imports_wasi: bool,
    /// The hooks the plugin says it implements.
    pub hooks: Vec<Hook>,
    /// The contract package it implements, e.g. `tenantry:policy@0.2.0`.
    pub contract: &'static str,
    /// Its name and version; `None` for a 0.1.0 component, which cannot say.
    pub metadata: Option<Metadata>,
    /// Whether its instances are reused between live calls ([`warm`]): set once a call on a
    /// fresh instance has used at least [`warm::REUSE_FROM_FUEL`].
    reused: AtomicBool,
    pre: Pre,
}

impl LoadedPlugin {
    /// Whether live calls reuse its instances ([`warm`]).
    pub fn reused(&self) -> bool {
        self.reused.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256)
            .field("hooks", &self.hooks)
            .field("contract", &self.contract)
            .field("metadata", &self.metadata)
            .field("reused", &self.reused())
            .finish_non_exhaustive()
    }
}

/// Advances the engine's epoch until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct WasmRuntime {
    engine: Engine,
    linker: Linker<Sandbox>,
    pub limits: WasmLimits,
    warm: WarmInstances,
    _ticker: Ticker,
}

fn fault(kind: &'static str, message: impl Into<String>) -> PolicyFault {
    PolicyFault {
        kind,
        message: message.into(),
    }
}

/// Turns a core module built for `wasm32-unknown-unknown` with `tenantry-sdk` into a
/// capability-free component: no WASI imports at all, so nothing to satisfy and nothing to
/// reach. The module carries its WIT world in a custom section written by the SDK's bindings.
pub fn componentize(core_module: &[u8]) -> Result<Vec<u8>, String> {
    wit_component::ComponentEncoder::default()
        .module(core_module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("cannot make a component of this module: {e:#}"))
}

/// Every section of a component (or a core module), its nested core modules' included, handed
/// to `visit` in order; the first that cannot be read is an `invalid_component` fault.
fn visit_sections(
    bytes: &[u8],
    mut visit: impl FnMut(wasmparser::Payload<'_>) -> Result<(), wasmparser::BinaryReaderError>,
) -> Result<(), PolicyFault> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        payload
            .and_then(&mut visit)
            .map_err(|e| fault("invalid_component", e.to_string()))?;
    }
    Ok(())
}

/// Functions defined in every core module of a component (or in a core module), counted
/// before anything is compiled.
pub fn count_functions(bytes: &[u8]) -> Result<usize, PolicyFault> {
    let mut functions = 0_usize;
    visit_sections(bytes, |payload| {
        if let wasmparser::Payload::CodeSectionStart { count, .. } = payload {
            functions = functions.saturating_add(count as usize);
        }
        Ok(())
    })?;
    Ok(functions)
}

/// The linear memory the core modules of a component (or a core module) define start with,
/// in bytes: approximate, since it counts each module once, however many times the component
/// instantiates it. After each call the host scans all of a plugin's memory for the pages the
/// call wrote, so this is what every call pays for; a Rust plugin linked with the default
/// 1 MiB stack starts at 1 MiB and more (`plugins/README.md`).
pub fn initial_memory_bytes(bytes: &[u8]) -> Result<u64, PolicyFault> {
    const PAGE: u64 = 64 << 10;
    let mut total = 0_u64;
    visit_sections(bytes, |payload| {
        if let wasmparser::Payload::MemorySection(memories) = payload {
            for memory in memories {
                let memory = memory?;
                let page = memory
                    .page_size_log2
                    .map_or(PAGE, |log2| 1_u64 << log2.min(63));
                total = total.saturating_add(memory.initial.saturating_mul(page));
            }
        }
        Ok(())
    })?;
    Ok(total)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl WasmRuntime {
    pub fn new(limits: WasmLimits) -> Result<Self, String> {
        let mut config = Config::new();
        config
            // One upload compiles on one (low-priority) policy job thread, never on every core.
            .parallel_compilation(false)
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            // Linear memory is exactly the pool slot, without guard pages or signal-based
            // traps: the compiled code checks bounds itself. Otherwise wasmtime shrinks every
            // reused slot back to its initial size with mprotect (and a TLB shootdown on
            // every core), and the plugin's first allocation grows it again: two system calls
            // per call, most of an instantiation's cost (measured with perf).
            .signals_based_traps(false)
            .memory_reservation(limits.max_memory_bytes as u64)
            .memory_guard_size(0)
            .memory_reservation_for_growth(0)
            .guard_before_linear_memory(false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool::config(&limits)));
        let engine =
            Engine::new(&config).map_err(|e| format!("cannot start the Wasm engine: {e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| format!("cannot link WASI: {e:#}"))?;
        contract::bindings::tenantry::policy::log::add_to_linker::<
            Sandbox,
            wasmtime::component::HasSelf<Sandbox>,
        >(&mut linker, |s| s)
        .map_err(|e| format!("cannot link the plugin log: {e:#}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticking, flag) = (engine.clone(), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("tenantry-wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
        Ok(Self {
            engine,
            linker,
            limits,
            warm: WarmInstances::new(limits.warm_instances.min(warm::MAX_PARKED)),
            _ticker: Ticker { stop },
        })
    }

    /// What the pool's idle memory slots hold now.
    pub fn idle_memory(&self) -> pool::IdleMemory {
        pool::idle_memory(&self.engine)
    }

    /// Compiles and validates a component; returns it with its serialized artifact.
    pub fn compile(&self, bytes: &[u8]) -> Result<(LoadedPlugin, Vec<u8>), PolicyFault> {
        if bytes.len() > self.limits.max_module_bytes {
            return Err(fault(
                "module_too_large",
                format!(
                    "the component is {} bytes; at most {} are allowed",
                    bytes.len(),
                    self.limits.max_module_bytes
                ),
            ));
        }
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(fault(
                "core_module",
                "this is a core WebAssembly module, not a component: make one with \
                 `tenantry plugin componentize IN.wasm OUT.wasm` (the module must be built \
                 with tenantry-sdk, which embeds the contract) and upload that",
            ));
        }
        let functions = count_functions(bytes)?;
        if functions > self.limits.max_functions {
            return Err(fault(
                "too_many_functions",
                format!(
                    "the component defines {functions} functions; at most {} are allowed",
                    self.limits.max_functions
                ),
            ));
        }
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(|e| fault("invalid_component", format!("{e:#}")))?;
        let artifact = component
            .serialize()
            .map_err(|e| fault("invalid_component", format!("{e:#}")))?;
        let plugin = self.prepare(&component, sha256_hex(bytes), bytes.len(), None)?;
        Ok((plugin, artifact))
    }

    /// Loads a cached artifact made by [`compile`](Self::compile); `None` when this engine
    /// cannot use it (another wasmtime build or configuration), so the caller recompiles.
    ///
    /// With `described` (what the plugin said of itself when it was first run) the plugin is
    /// not run now; without it, it is asked again.
    pub fn load_artifact(
        &self,
        artifact: &[u8],
        sha256: &str,
        size: usize,
        described: Option<&Described>,
    ) -> Option<LoadedPlugin> {
        // SAFETY: the artifact was produced by `Component::serialize` of this program and kept
        // in the server's own database next to the SHA-256 of the component it came from (its
        // MAC under the server key checked by the caller), or in the user's own cache
        // directory by an offline command (`cli::compile_cache`), which only that user can
        // write; wasmtime additionally refuses artifacts from another engine version or
        // configuration.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.engine, artifact) }.ok()?;
        self.prepare(&component, sha256.to_owned(), size, described)
            .ok()
    }

    /// [`load_artifact`](Self::load_artifact) from a file, mapped rather than copied:
    /// clean file-backed memory the kernel can reclaim, not a copy in the heap.
    pub fn load_artifact_file(
        &self,
        path: &std::path::Path,
        sha256: &str,
        size: usize,
        described: Option<&Described>,
    ) -> Option<LoadedPlugin> {
        // SAFETY: the file holds exactly an artifact checked as for `load_artifact` (the
        // caller wrote it from the MAC-checked bytes, or compared it with them just before),
        // and is only ever replaced by renaming another file over it, never changed in place
        // while mapped (`app::artifact_files`).
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize_file(&self.engine, path) }.ok()?;
        self.prepare(&component, sha256.to_owned(), size, described)
            .ok()
    }

    /// The plugin ready to instantiate. Unless `described` says what it implements (and names
    /// the contract it was found to implement now), it is instantiated once and asked.
    fn prepare(
        &self,
        component: &Component,
        sha256: String,
        size: usize,
        described: Option<&Described>,
    ) -> Result<LoadedPlugin, PolicyFault> {
        let instance_pre = self.linker.instantiate_pre(component).map_err(|e| {
            fault(
                "missing_import",
                format!("the component needs something tenantry does not give: {e:#}"),
            )
        })?;
        let current = contract::PluginPre::new(instance_pre.clone()).and_then(|pre| {
            let hooks = hook_exports::HookExports::new(component).map_err(wasmtime::Error::msg)?;
            Ok(Pre::Current {
                pre,
                hooks: Arc::new(hooks),
            })
        });
        let (pre, contract) = match current {
            Ok(pre) => (pre, contract::PACKAGE),
            Err(current) => match legacy::PluginPre::new(instance_pre) {
                Ok(pre) => (Pre::Legacy(pre), legacy::PACKAGE),
                Err(_) => {
                    return Err(fault(
                        "missing_export",
                        format!(
                            "the component does not implement {}/hooks (nor {}): {current:#}",
                            contract::PACKAGE,
                            legacy::PACKAGE
                        ),
                    ));
                }
            },
        };
        // Every plugin imports the contract's `types` interface; only WASI builds import more.
        let imports_wasi = component
            .component_type()
            .imports(&self.engine)
            .any(|(name, _)| name.starts_with("wasi:"));
        let mut plugin = LoadedPlugin {
            sha256,
            size,
            imports_wasi,
            hooks: Vec::new(),
            contract,
            metadata: None,
            reused: AtomicBool::new(false),
            pre,
        };
        if let Some(described) = described.filter(|d| d.contract == contract) {
            plugin.hooks = described.hooks.clone();
            plugin.metadata = described.metadata.clone();
            return Ok(plugin);
        }
        let (mut store, instance) = self.instantiate(&plugin)?;
        let mut hooks = match &instance {
            Instance::Current { instance, .. } => {
                let bound = contract::Plugin::new(&mut store, instance)
                    .map_err(|e| self.trap(&store, &e))?;
                let hooks = bound.tenantry_policy_hooks();
                let meta = hooks
                    .call_metadata(&mut store)
                    .map_err(|e| self.trap(&store, &e))?;
                plugin.metadata = Some(Metadata {
                    name: meta.name.chars().take(100).collect(),
                    version: meta.version.chars().take(50).collect(),
                });
                hooks
                    .call_implemented(&mut store)
                    .map_err(|e| self.trap(&store, &e))?
                    .into_iter()
                    .map(contract::hook)
                    .collect::<Vec<_>>()
            }
            Instance::Legacy(i) => i
                .tenantry_policy_hooks()
                .call_implemented(&mut store)
                .map_err(|e| self.trap(&store, &e))?
                .into_iter()
                .map(legacy::hook)
                .collect(),
        };
        hooks.sort();
        hooks.dedup();
        plugin.hooks = hooks;
        Ok(plugin)
    }

    /// Asks the plugin whether `config` is one it can work with (contract 0.2.0: its
    /// `check-config`); a 0.1.0 component cannot say, and any config is taken.
    pub fn check_config(&self, plugin: &LoadedPlugin, config: &str) -> Result<(), String> {
        let (mut store, instance) = self.instantiate(plugin).map_err(|f| f.to_string())?;
        match instance {
            Instance::Current { instance, .. } => contract::Plugin::new(&mut store, &instance)
                .and_then(|bound| {
                    bound
                        .tenantry_policy_hooks()
                        .call_check_config(&mut store, config)
                })
                .map_err(|e| self.trap(&store, &e).to_string())?,
            Instance::Legacy(_) => Ok(()),
        }
    }

    fn instantiate(
        &self,
        plugin: &LoadedPlugin,
    ) -> Result<(Store<Sandbox>, Instance), PolicyFault> {
        let mut store = Store::new(
            &self.engine,
            Sandbox::new(self.limits.max_memory_bytes, self.limits.max_table_elements),
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| fault("trap", format!("{e:#}")))?;
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = match &plugin.pre {
            // The raw instance: bindgen's `instantiate` would look up and type-check every
            // export on each call (`hook_exports`).
            Pre::Current { pre, hooks } => {
                pre.instance_pre()
                    .instantiate(&mut store)
                    .map(|instance| Instance::Current {
                        instance,
                        hooks: Arc::clone(hooks),
                    })
            }
            Pre::Legacy(pre) => pre.instantiate(&mut store).map(Instance::Legacy),
        }
        .map_err(|e| self.trap(&store, &e))?;
        Ok((store, instance))
    }

    /// The call's deadline in epoch ticks from now.
    fn deadline_ticks(&self) -> u64 {
        self.limits
            .deadline_ms
            .div_ceil(u64::try_from(TICK.as_millis()).unwrap_or(1))
            + 1
    }

    /// Instantiates the plugin once and drops the instance: what every call pays before its
    /// hook runs. Public for measurements (`tenantry-bench -- wasm`).
    pub fn instantiate_only(&self, plugin: &LoadedPlugin) -> Result<(), PolicyFault> {
        self.instantiate(plugin).map(|_| ())
    }

    /// Names a failed call.
    fn trap(&self, store: &Store<Sandbox>, error: &wasmtime::Error) -> PolicyFault {
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => fault(
                "out_of_fuel",
                format!("used all {} units of fuel", self.limits.fuel),
            ),
            Some(Trap::Interrupt) => fault(
                "deadline",
                format!("ran past its {} ms deadline", self.limits.deadline_ms),
            ),
            _ if store.data().limiter.memory_refused => fault(
                "memory_limit",
                format!(
                    "tried to grow memory past {} bytes",
                    self.limits.max_memory_bytes
                ),
            ),
            Some(trap) => fault("trap", trap.to_string()),
            None => fault("trap", format!("{error:#}")),
        }
    }

    /// One call of one hook on a fresh instance.
    ///
    /// wasmtime-wasi's synchronous bindings block on a Tokio runtime for stream operations
    /// (a plugin's panic message on stderr, say), which panics on a thread that is already
    /// driving one. So a WASI-importing plugin called from inside a runtime runs on a scoped
    /// thread of its own; a capability-free component runs inline.
    pub fn evaluate(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        input: &serde_json::Value,
        config: &str,
    ) -> (Result<Answer, PolicyFault>, CallReport) {
        self.evaluate_warm(plugin, hook, input, None, config, None)
    }

    /// [`evaluate`](Self::evaluate) for a live decision: with `Some(key)`, a plugin whose
    /// instances are [`reused`](LoadedPlugin::reused) runs on one parked under `key` when
    /// there is one, and parks its instance afterwards ([`warm`]). With `Some(typed)`, the
    /// input a use case built, of which `input` is the JSON ([`DecisionInput`]), that is the
    /// plugin's input, not `input` parsed again.
    ///
    /// [`DecisionInput`]: crate::policy::decision_input::DecisionInput
    pub fn evaluate_warm(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        input: &serde_json::Value,
        typed: Option<&PolicyInput>,
        config: &str,
        key: Option<WarmKey>,
    ) -> (Result<Answer, PolicyFault>, CallReport) {
        if plugin.imports_wasi && tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|scope| {
                scope
                    .spawn(|| self.evaluate_here(plugin, hook, input, typed, config, key))
                    .join()
                    .unwrap_or_else(|_| {
                        (
                            Err(fault("trap", "the plugin call panicked the host thread")),
                            CallReport::default(),
                        )
                    })
            });
        }
        self.evaluate_here(plugin, hook, input, typed, config, key)
    }

    fn evaluate_here(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        input: &serde_json::Value,
        typed: Option<&PolicyInput>,
        config: &str,
        key: Option<WarmKey>,
    ) -> (Result<Answer, PolicyFault>, CallReport) {
        if !plugin.hooks.contains(&hook) {
            let abstain = Answer {
                verdict: super::verdict::Verdict::Abstain,
                reason: None,
                minutes: None,
            };
            return (Ok(abstain), CallReport::default());
        }
        let record = match self.input(plugin, hook, input, typed, config) {
            Ok(record) => record,
            Err(fault) => return (Err(fault), CallReport::default()),
        };
        if let Some(mut parked) = key
            .filter(|_| plugin.reused())
            .and_then(|k| self.warm.take(k))
        {
            if let Err(fault) = self.reset(&mut parked.store) {
                return (Err(fault), CallReport::default());
            }
            let (answer, report) =
                self.call(&mut parked.store, &parked.instance, hook, &record, config);
            if answer.is_ok() {
                self.warm.park(parked);
                return (answer, report);
            }
            // A fault on a reused instance may come from what its earlier calls left behind
            // (a heap never collected, say): it is dropped and the call made on a fresh one.
        }
        let instantiated = self.instantiate(plugin).or_else(|fault| {
            // The pool may be full of parked instances: they give way to a call that needs a
            // slot now.
            if self.warm.clear() == 0 {
                return Err(fault);
            }
            self.instantiate(plugin)
        });
        let (mut store, instance) = match instantiated {
            Ok(pair) => pair,
            Err(fault) => return (Err(fault), CallReport::default()),
        };
        let (answer, report) = self.call(&mut store, &instance, hook, &record, config);
        // Only a live call says a plugin is expensive: a trial's input is whoever runs it's
        // choice, and must not change how every binding of the plugin runs.
        if key.is_some() && report.fuel >= warm::REUSE_FROM_FUEL {
            plugin.reused.store(true, Ordering::Relaxed);
        }
        if let (Some(key), Ok(_), true) = (key, &answer, plugin.reused()) {
            self.warm.park(Parked::new(key, store, instance));
        }
        (answer, report)
    }

    /// Gives a parked instance's store what a fresh one starts a call with.
    fn reset(&self, store: &mut Store<Sandbox>) -> Result<(), PolicyFault> {
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| fault("trap", format!("{e:#}")))?;
        store.set_epoch_deadline(self.deadline_ticks());
        let sandbox = store.data_mut();
        sandbox.logs.clear();
        sandbox.dropped_logs = 0;
        sandbox.limiter.memory_refused = false;
        Ok(())
    }

    /// One hook call on `instance`, with what it used and logged.
    fn call(
        &self,
        store: &mut Store<Sandbox>,
        instance: &Instance,
        hook: Hook,
        record: &Record,
        config: &str,
    ) -> (Result<Answer, PolicyFault>, CallReport) {
        let verdict = match (instance, record) {
            (Instance::Current { instance, hooks }, Record::Current(record)) => hooks
                .call(store, instance, record, config)
                .map(contract::verdict),
            (Instance::Legacy(i), Record::Legacy(record)) => {
                let hooks = i.tenantry_policy_hooks();
                match record {
                    legacy::Record::Authorize(r) => hooks.call_authorize(&mut *store, r, config),
                    legacy::Record::Link(r) => hooks.call_link(&mut *store, r, config),
                    legacy::Record::Share(r) => hooks.call_share(&mut *store, r, config),
                    legacy::Record::RemoteSupport(r) => {
                        hooks.call_remote_support(&mut *store, r, config)
                    }
                }
                .map(legacy::verdict)
            }
            _ => {
                return (
                    Err(fault("trap", "the input is not of this plugin's contract")),
                    CallReport::default(),
                );
            }
        };
        let report = CallReport {
            fuel: self
                .limits
                .fuel
                .saturating_sub(store.get_fuel().unwrap_or(0)),
            logs: std::mem::take(&mut store.data_mut().logs),
            dropped_logs: store.data().dropped_logs,
        };
        let answer = match verdict {
            Ok(v) => convert::answer(hook, v, self.limits.max_output_bytes),
            Err(e) => Err(self.trap(store, &e)),
        };
        (answer, report)
    }

    /// The input as the record of `plugin`'s contract, within the size limits.
    fn input(
        &self,
        plugin: &LoadedPlugin,
        hook: Hook,
        input: &serde_json::Value,
        typed: Option<&PolicyInput>,
        config: &str,
    ) -> Result<Record, PolicyFault> {
        let max = self.limits.max_input_bytes;
        if config.len() > max {
            return Err(fault(
                "invalid_input",
                format!("the binding's config is over {max} bytes"),
            ));
        }
        // A layer runs for its own hook, so a typed input is always that hook's.
        debug_assert!(typed.is_none_or(|t| t.hook() == hook));
        let typed = match typed {
            Some(typed) if typed.hook() == hook => typed.clone(),
            _ => PolicyInput::parse(hook, input)
                .map_err(|e| fault("invalid_input", e.to_string()))?,
        };
        let record = match plugin.pre {
            Pre::Current { .. } => Record::Current(contract::record(typed)),
            Pre::Legacy(_) => Record::Legacy(legacy::record(typed)),
        };
        // `resource` travels as JSON text, written once here and measured as written.
        let resource = match &record {
            Record::Current(contract::Record::Authorize(r)) => r.resource.len(),
            Record::Legacy(legacy::Record::Authorize(r)) => r.resource.len(),
            _ => 0,
        };
        if resource > max {
            return Err(fault(
                "invalid_input",
                format!("`resource` is over {max} bytes"),
            ));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every core module's memories count, a component's nested ones included.
    #[test]
    fn initial_memory_counts_every_core_modules_memories() {
        let module = wat::parse_str("(module (memory 17) (memory 0))").unwrap();
        assert_eq!(initial_memory_bytes(&module).unwrap(), 17 << 16);
        let component =
            wat::parse_str("(component (core module (memory 2)) (core module (memory 3 10)))")
                .unwrap();
        assert_eq!(initial_memory_bytes(&component).unwrap(), 5 << 16);
        assert_eq!(
            initial_memory_bytes(b"not wasm").unwrap_err().kind,
            "invalid_component"
        );
    }
}
