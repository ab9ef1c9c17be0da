//! The policy engine: the active policy set and `decide`, which asks every bound layer and
//! combines their answers.
//!
//! The active set is an immutable snapshot behind an `Arc`; a decision clones the `Arc` and
//! runs entirely on that snapshot, so swapping in a new set never waits for, or disturbs,
//! decisions in flight, and a decision never sees half of a change. No lock is held while a
//! policy runs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use super::combine::{Decision, LayerOutcome, combine};
use super::compiled::{Code, CompiledPolicy};
use super::decision_input::DecisionInput;
use super::hook::{Hook, Layer};
use super::input::PolicyInput;
use super::layer_input::LayerInput;
use super::rhai_policy::{PolicyFault, RhaiLimits, RhaiRuntime};
use super::verdict::Answer;
use super::version::BindingKey;
use super::wasm::resident::ResidentPlugins;
use super::wasm::{CallReport, LoadedPlugin, WarmKey, WasmLimits, WasmRuntime};
use crate::domain::ids::OrgId;
use crate::error::{Error, Result};

/// Whether a decision is a trial (a dry run, a preview) rather than a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trial {
    Yes,
    No,
}

/// The share of its wall-clock budget past which a tenant policy's call counts as a failure
/// for its breaker, even if it answered.
const SLOW_SHARE: f64 = 0.8;

/// What a tenant policy's call counts as for its breaker: its fault, or `slow` when it answered
/// only after [`SLOW_SHARE`] of its wall-clock budget.
fn breaker_fault(
    fault: Option<&'static str>,
    elapsed: std::time::Duration,
    budget: std::time::Duration,
) -> Option<&'static str> {
    fault.or((elapsed >= budget.mul_f64(SLOW_SHARE)).then_some("slow"))
}

/// Every policy version in force, by binding key, with the generation that put it there.
#[derive(Default, Clone)]
pub struct PolicySet {
    bound: HashMap<BindingKey, Arc<CompiledPolicy>>,
    /// The newest change applied per key, removals included.
    generations: HashMap<BindingKey, u64>,
}

impl PolicySet {
    /// How many layers are bound, over every hook.
    pub fn len(&self) -> usize {
        self.bound.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }

    pub fn get(&self, key: &BindingKey) -> Option<&Arc<CompiledPolicy>> {
        self.bound.get(key)
    }

    /// The newest change applied to `key` (a binding or a removal), if any.
    pub fn generation(&self, key: &BindingKey) -> Option<u64> {
        self.generations.get(key).copied()
    }

    /// The keys bound now.
    pub fn bound_keys(&self) -> impl Iterator<Item = &BindingKey> {
        self.bound.keys()
    }
}

/// Whose layers apply to a decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subject {
    pub provider: Option<OrgId>,
    pub org: Option<OrgId>,
}

/// A policy to try in place of one layer's (dry runs and previews).
#[derive(Clone)]
pub struct Candidate {
    pub layer: Layer,
    pub policy: Arc<CompiledPolicy>,
}

pub struct PolicyEngine {
    runtime: RhaiRuntime,
    /// Started on first use: servers without plugins never reserve its memory pool.
    wasm: OnceLock<Result<WasmRuntime, String>>,
    wasm_limits: WasmLimits,
    /// The plugins loaded now, at most `wasm_limits.loaded_plugins`.
    plugins: ResidentPlugins,
    active: RwLock<Arc<PolicySet>>,
    /// Serializes changes (not decisions) so that each builds on the last.
    changing: Mutex<()>,
}

impl PolicyEngine {
    pub fn new(limits: RhaiLimits, wasm_limits: WasmLimits) -> Self {
        Self {
            runtime: RhaiRuntime::new(limits),
            wasm: OnceLock::new(),
            wasm_limits,
            plugins: ResidentPlugins::new(wasm_limits.loaded_plugins),
            active: RwLock::new(Arc::new(PolicySet::default())),
            changing: Mutex::new(()),
        }
    }

    /// Reads and compiles `DIR/{hook}.rhai`.
    pub fn compile_file(&self, hook: Hook, dir: &Path) -> Result<CompiledPolicy> {
        let file = dir.join(format!("{}.rhai", hook.name()));
        let source = std::fs::read_to_string(&file).map_err(|e| {
            Error::Policy(format!(
                "cannot read platform policy `{}`: {e}",
                file.display()
            ))
        })?;
        self.runtime
            .compile(hook, &file.display().to_string(), &source)
            .map_err(Error::Policy)
    }

    pub fn runtime(&self) -> &RhaiRuntime {
        &self.runtime
    }

    /// The Wasm runtime, started on first use.
    pub fn wasm(&self) -> Result<&WasmRuntime, String> {
        self.wasm
            .get_or_init(|| WasmRuntime::new(self.wasm_limits))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The loaded plugins, and how the others are loaded.
    pub fn plugins(&self) -> &ResidentPlugins {
        &self.plugins
    }

    /// `plugin` kept loaded, as one layer's policy for `hook` with `config`: for an engine
    /// without a loader (offline commands, benchmarks), which runs only what it was given.
    pub fn keep_plugin(&self, hook: Hook, plugin: LoadedPlugin, config: String) -> CompiledPolicy {
        let sha = plugin.sha256.clone();
        self.plugins.keep(&sha, Arc::new(plugin));
        CompiledPolicy::plugin(hook, sha, config)
    }

    /// The Wasm runtime and the plugin `sha256`, loaded now if it is not.
    pub fn plugin(&self, sha256: &str) -> Result<(&WasmRuntime, Arc<LoadedPlugin>), PolicyFault> {
        let wasm = self.wasm().map_err(|message| PolicyFault {
            kind: "trap",
            message,
        })?;
        let plugin = self.plugins.get(sha256).map_err(|message| PolicyFault {
            kind: "not_loaded",
            message,
        })?;
        Ok((wasm, plugin))
    }

    /// Runs one policy, whatever its kind, as a single layer.
    pub fn evaluate(
        &self,
        policy: &CompiledPolicy,
        input: &serde_json::Value,
    ) -> Result<Answer, PolicyFault> {
        self.evaluate_reported(policy, input).0
    }

    /// [`evaluate`](Self::evaluate), with what a plugin's call used and logged.
    pub fn evaluate_reported(
        &self,
        policy: &CompiledPolicy,
        input: &serde_json::Value,
    ) -> (Result<Answer, PolicyFault>, Option<CallReport>) {
        self.evaluate_for(policy, &mut LayerInput::new(input, 1), None)
    }

    /// [`evaluate_reported`](Self::evaluate_reported); `Some(org)` for a live decision about
    /// `org` (its key, 0 for none), whose plugin call may run on an instance an earlier live
    /// call of the same binding for the same organization left (`wasm::warm`).
    fn evaluate_for(
        &self,
        policy: &CompiledPolicy,
        input: &mut LayerInput<'_>,
        live_for: Option<u128>,
    ) -> (Result<Answer, PolicyFault>, Option<CallReport>) {
        match &policy.code {
            Code::Rhai(_) => (self.runtime.evaluate_shared(policy, input), None),
            Code::Wasm { config, binding } => match self.plugin(&policy.sha256) {
                Ok((wasm, plugin)) => {
                    let key = live_for.map(|org| WarmKey {
                        binding: *binding,
                        org,
                    });
                    let (answer, report) = wasm.evaluate_warm(
                        &plugin,
                        policy.hook,
                        input.json(),
                        input.typed(),
                        config,
                        key,
                    );
                    (answer, Some(report))
                }
                Err(fault) => (Err(fault), None),
            },
        }
    }

    pub fn snapshot(&self) -> Arc<PolicySet> {
        match self.active.read() {
            Ok(active) => Arc::clone(&active),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Tenant policy versions skipped now for some organization (their breaker is open),
    /// counted once per organization.
    pub fn quarantined(&self) -> usize {
        self.snapshot()
            .bound
            .values()
            .map(|p| p.breakers.open())
            .sum()
    }

    /// Binds (`Some`) or unbinds (`None`) `key`, unless a newer change is already applied.
    /// The next decision sees the result; decisions in flight keep their snapshot.
    pub fn apply(&self, key: BindingKey, generation: u64, policy: Option<Arc<CompiledPolicy>>) {
        let _serial = self
            .changing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.snapshot();
        if current
            .generations
            .get(&key)
            .is_some_and(|g| *g >= generation)
        {
            return;
        }
        let mut next = PolicySet::clone(&current);
        next.generations.insert(key, generation);
        match policy {
            Some(p) => next.bound.insert(key, p),
            None => next.bound.remove(&key),
        };
        let next = Arc::new(next);
        match self.active.write() {
            Ok(mut active) => *active = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// Whether a provider or organization layer is bound for `subject` (the platform's is
    /// always bound). Asked for every decision inside a write: nothing is formatted or copied.
    pub fn has_tenant_layers(&self, hook: Hook, subject: Subject) -> bool {
        let set = self.snapshot();
        tenant_keys(hook, subject)
            .into_iter()
            .any(|(_, key)| key.is_some_and(|k| set.get(&k).is_some()))
    }

    /// Every layer bound for `subject`, the platform's included, with its version, in layer
    /// order: what a decision made now would be made with.
    pub fn bound_versions(&self, hook: Hook, subject: Subject) -> Vec<(Layer, String)> {
        let set = self.snapshot();
        layer_keys(hook, subject)
            .into_iter()
            .filter_map(|(layer, key)| Some((layer, set.get(&key?)?.version().to_owned())))
            .collect()
    }

    /// Asks every layer bound for `subject` and combines their answers: a live decision on
    /// JSON, converted afresh for Rhai (only a [`DecisionInput`] a use case built reaches the
    /// per-thread table of converted parts, `rhai_input`, so no caller of this can put JSON it
    /// wrote in front of another tenant's decisions). A trial goes through
    /// [`decide_with`](Self::decide_with).
    pub fn decide(&self, hook: Hook, subject: Subject, input: &serde_json::Value) -> Decision {
        self.run(hook, subject, input, None, None, Trial::No)
    }

    /// [`decide`](Self::decide) `input`: a Wasm layer takes its typed input, when a use case
    /// built one, instead of parsing its JSON back.
    pub fn decide_input(&self, subject: Subject, input: &DecisionInput) -> Decision {
        let (hook, json, typed) = (input.hook(), input.json(), input.typed());
        self.run(hook, subject, json, typed, None, Trial::No)
    }

    /// A trial of a decision (a dry run, a preview), with `candidate` standing in for one
    /// layer's policy. Trials do not count toward any policy's breaker: whoever runs them
    /// chooses their inputs, and could otherwise quarantine a layer others depend on (a
    /// customer tripping its provider's policy for every sibling customer).
    pub fn decide_with(
        &self,
        hook: Hook,
        subject: Subject,
        input: &serde_json::Value,
        candidate: Option<&Candidate>,
    ) -> Decision {
        self.run(hook, subject, input, None, candidate, Trial::Yes)
    }

    fn run(
        &self,
        hook: Hook,
        subject: Subject,
        input: &serde_json::Value,
        typed: Option<&PolicyInput>,
        candidate: Option<&Candidate>,
        trial: Trial,
    ) -> Decision {
        let set = self.snapshot();
        let chosen = layer_keys(hook, subject).map(|(layer, key)| {
            let policy = match candidate {
                Some(c) if c.layer == layer => Some(&c.policy),
                _ => key.and_then(|k| set.get(&k)),
            };
            (layer, policy)
        });
        let rhai_layers = chosen
            .iter()
            .filter(|(_, policy)| matches!(policy.map(|p| &p.code), Some(Code::Rhai(_))))
            .count();
        let mut layer_input = match trial {
            // The table of converted parts takes only the parts of an input a use case built.
            Trial::No if typed.is_some() => LayerInput::live(input, typed, rhai_layers),
            Trial::No => LayerInput::new(input, rhai_layers),
            Trial::Yes => LayerInput::new(input, rhai_layers),
        };
        let layers = chosen
            .into_iter()
            .filter_map(|(layer, policy)| {
                Some(self.run_layer(layer, policy?, subject, &mut layer_input, trial))
            })
            .collect();
        let decision = combine(hook, layers);
        crate::metrics::record_decision(&decision);
        decision
    }

    /// The wall-clock budget one call of `policy` runs under.
    fn wall_clock_of(&self, policy: &CompiledPolicy) -> std::time::Duration {
        match policy.code {
            Code::Rhai(_) => self.runtime.wall_clock(),
            Code::Wasm { .. } => std::time::Duration::from_millis(self.wasm_limits.deadline_ms),
        }
    }

    fn run_layer(
        &self,
        layer: Layer,
        policy: &CompiledPolicy,
        subject: Subject,
        input: &mut LayerInput<'_>,
        trial: Trial,
    ) -> LayerOutcome {
        let started = Instant::now();
        // The platform's policies are the operator's own: always run, never quarantined.
        let guarded = layer != Layer::Platform;
        let counted = guarded && trial == Trial::No;
        let org = subject.org.map_or(0, OrgId::key);
        let mut report = None;
        let result = match policy.breakers.admit(org) {
            Err((wait, failures)) if guarded => Err(PolicyFault {
                kind: "quarantined",
                message: format!(
                    "skipped for another {} ms: its last {failures} calls failed",
                    wait.as_millis(),
                ),
            }),
            _ => {
                let live_for = (trial == Trial::No).then_some(org);
                let (result, call) = self.evaluate_for(policy, input, live_for);
                report = call;
                if counted {
                    // A call that answered but used most of its wall-clock budget counts as a
                    // failure too: a policy that always runs near its limit costs the machine
                    // nearly what one that exceeds it does.
                    let fault = result.as_ref().err().map(|f| f.kind);
                    let budget = self.wall_clock_of(policy);
                    policy
                        .breakers
                        .record(org, breaker_fault(fault, started.elapsed(), budget));
                }
                result
            }
        };
        let elapsed = started.elapsed();
        crate::metrics::record_layer(policy.hook, policy.kind_index(), elapsed.as_secs_f64());
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let (answer, error, error_kind) = match result {
            Ok(answer) => (answer, None, None),
            Err(fault) => {
                // Debug, not warn: a tenant decides how often its own policy fails, and must not
                // decide how much the operator's log holds. The decision log keeps every failure
                // and `tenantry_policy_layer_errors_total` counts them.
                tracing::debug!(layer = layer.name(), policy = %policy.version(), %fault, "policy failed; denying");
                (
                    Answer::deny(format!(
                        "policy error in the {} layer ({})",
                        layer.name(),
                        fault.kind
                    )),
                    Some(fault.to_string()),
                    Some(fault.kind),
                )
            }
        };
        let mut report = report.unwrap_or_default();
        if report.dropped_logs > 0 {
            report
                .logs
                .push(format!("({} more lines not kept)", report.dropped_logs));
        }
        LayerOutcome {
            layer,
            version: policy.version().to_owned(),
            answer,
            error,
            error_kind,
            micros,
            fuel: (report.fuel > 0).then_some(report.fuel),
            logs: report.logs,
        }
    }
}

/// The platform's binding and `subject`'s tenant bindings of `hook`, in layer order.
fn layer_keys(hook: Hook, subject: Subject) -> [(Layer, Option<BindingKey>); 3] {
    let [provider, org] = tenant_keys(hook, subject);
    [
        (Layer::Platform, Some(BindingKey::platform(hook))),
        provider,
        org,
    ]
}

/// The binding keys of the provider and organization layers for `subject`.
fn tenant_keys(hook: Hook, subject: Subject) -> [(Layer, Option<BindingKey>); 2] {
    [
        (
            Layer::ServiceProvider,
            subject.provider.map(|sp| BindingKey {
                layer: Layer::ServiceProvider,
                owner: Some(sp),
                hook,
            }),
        ),
        (
            Layer::Organization,
            subject.org.map(|org| BindingKey {
                layer: Layer::Organization,
                owner: Some(org),
                hook,
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_answer_past_four_fifths_of_the_budget_counts_as_slow() {
        let budget = Duration::from_millis(50);
        assert_eq!(breaker_fault(None, Duration::from_millis(39), budget), None);
        assert_eq!(
            breaker_fault(None, Duration::from_millis(40), budget),
            Some("slow")
        );
        assert_eq!(
            breaker_fault(Some("deadline"), Duration::from_millis(1), budget),
            Some("deadline")
        );
    }
}
