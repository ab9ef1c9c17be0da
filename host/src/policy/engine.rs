//! The policy engine: the active policy set and `decide`, which asks every bound layer and
//! combines their answers.
//!
//! The active set is an immutable snapshot behind an `Arc`; a decision clones the `Arc` and
//! runs entirely on that snapshot, so swapping in a new set never waits for, or disturbs,
//! decisions in flight. No lock is held while a policy runs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::combine::{Decision, LayerOutcome, combine};
use super::hook::{Hook, Layer};
use super::rhai_policy::{RhaiLimits, RhaiPolicy, RhaiRuntime};
use super::verdict::Answer;
use crate::domain::ids::OrgId;
use crate::error::{Error, Result};

/// Every policy version in force, by layer.
#[derive(Default)]
pub struct PolicySet {
    pub platform: HashMap<Hook, Arc<RhaiPolicy>>,
    /// The provider-for-its-customers layer, keyed by the provider.
    pub service_provider: HashMap<(OrgId, Hook), Arc<RhaiPolicy>>,
    pub organization: HashMap<(OrgId, Hook), Arc<RhaiPolicy>>,
}

/// Whose layers apply to a decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject {
    pub provider: Option<OrgId>,
    pub org: Option<OrgId>,
}

pub struct PolicyEngine {
    runtime: RhaiRuntime,
    active: RwLock<Arc<PolicySet>>,
}

impl PolicyEngine {
    pub fn new(limits: RhaiLimits) -> Self {
        Self {
            runtime: RhaiRuntime::new(limits),
            active: RwLock::new(Arc::new(PolicySet::default())),
        }
    }

    /// Loads `DIR/{hook}.rhai` for every hook as the platform layer. Every file must exist
    /// and compile: a server never starts with a hole in its guardrails.
    pub fn load_platform_dir(&self, dir: &Path) -> Result<()> {
        let mut set = PolicySet::default();
        for hook in Hook::ALL {
            let policy = self.compile_file(hook, dir)?;
            set.platform.insert(hook, Arc::new(policy));
        }
        self.swap(set);
        Ok(())
    }

    pub fn compile_file(&self, hook: Hook, dir: &Path) -> Result<RhaiPolicy> {
        let file = dir.join(format!("{}.rhai", hook.name()));
        let source = std::fs::read_to_string(&file).map_err(|e| {
            Error::Policy(format!(
                "cannot read platform policy `{}`: {e}",
                file.display()
            ))
        })?;
        let name = file.display().to_string();
        self.runtime
            .compile(hook, &name, &source)
            .map_err(Error::Policy)
    }

    pub fn runtime(&self) -> &RhaiRuntime {
        &self.runtime
    }

    /// Makes `set` the one the next decision sees.
    pub fn swap(&self, set: PolicySet) {
        let next = Arc::new(set);
        match self.active.write() {
            Ok(mut active) => *active = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    fn snapshot(&self) -> Arc<PolicySet> {
        match self.active.read() {
            Ok(active) => Arc::clone(&active),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Asks every layer bound for `subject` and combines their answers.
    pub fn decide(&self, hook: Hook, subject: Subject, input: &serde_json::Value) -> Decision {
        let set = self.snapshot();
        let mut bound: Vec<(Layer, &Arc<RhaiPolicy>)> = Vec::with_capacity(3);
        if let Some(p) = set.platform.get(&hook) {
            bound.push((Layer::Platform, p));
        }
        if let Some(p) = subject
            .provider
            .and_then(|sp| set.service_provider.get(&(sp, hook)))
        {
            bound.push((Layer::ServiceProvider, p));
        }
        if let Some(p) = subject
            .org
            .and_then(|org| set.organization.get(&(org, hook)))
        {
            bound.push((Layer::Organization, p));
        }
        let layers = bound
            .into_iter()
            .map(|(layer, policy)| self.run_layer(layer, policy, input))
            .collect();
        let decision = combine(hook, layers);
        crate::metrics::record_decision(&decision);
        decision
    }

    fn run_layer(
        &self,
        layer: Layer,
        policy: &RhaiPolicy,
        input: &serde_json::Value,
    ) -> LayerOutcome {
        let started = Instant::now();
        let result = self.runtime.evaluate(policy, input);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (answer, error) = match result {
            Ok(answer) => (answer, None),
            Err(fault) => {
                tracing::warn!(layer = layer.name(), policy = %policy.version(), %fault, "policy failed; denying");
                (
                    Answer::deny(format!(
                        "policy error in the {} layer ({})",
                        layer.name(),
                        fault.kind
                    )),
                    Some(fault.to_string()),
                )
            }
        };
        LayerOutcome {
            layer,
            version: policy.version(),
            answer,
            error,
            micros,
        }
    }
}
