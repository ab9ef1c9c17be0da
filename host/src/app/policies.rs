//! The policy life cycle: immutable numbered versions per layer and hook, a test gate before
//! activation, rollback, unbinding, and loading what is bound when the server starts.
//!
//! A version is written and bound in one write transaction; the engine swaps it in right after
//! that transaction is durable. Bindings carry a generation so that the engine applies
//! concurrent activations in commit order.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::access::Access;
use super::actor::Actor;
use super::journal::audit;
use super::policy_jobs::Reservation;
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PolicyVersionId};
use crate::domain::org::Hierarchy;
use crate::error::{Error, FieldError, Result};
use crate::policy::budget::CpuBudget;
use crate::policy::compiled::{Code, CompiledPolicy};
use crate::policy::fixtures::{self, Case, GateOutcome};
use crate::policy::version::{Binding, BindingKey, PolicyVersion};
use crate::policy::{Hook, Layer};
use crate::storage::{Tx, View};

const GENERATION_KEY: &str = crate::storage::POLICY_GENERATION_KEY;

/// Whose layer a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Platform,
    /// A provider's layer for all its customers.
    Customers(OrgId),
    Org(OrgId),
}

impl Target {
    /// Whose share of policy jobs a change of this layer uses; none for the platform's.
    pub fn tenant(self) -> Option<String> {
        match self {
            Self::Platform => None,
            Self::Customers(org) | Self::Org(org) => Some(org.to_string()),
        }
    }

    pub fn key(self, hook: Hook) -> BindingKey {
        match self {
            Self::Platform => BindingKey::platform(hook),
            Self::Customers(sp) => BindingKey {
                layer: Layer::ServiceProvider,
                owner: Some(sp),
                hook,
            },
            Self::Org(org) => BindingKey {
                layer: Layer::Organization,
                owner: Some(org),
                hook,
            },
        }
    }
}

/// A new version as uploaded: Rhai source and optional fixtures.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = serde_json::json!({
    "source": "fn authorize(input) {\n    if input.action == \"org.delete\" { return deny(\"ask the operator\"); }\n    allow(\"within the platform rules\")\n}"
}))]
pub struct VersionBody {
    /// Rhai source; or give `plugin` (and `config`) to bind an uploaded Wasm plugin.
    pub source: Option<String>,
    /// The SHA-256 of an uploaded plugin (`POST /v1/plugins`).
    pub plugin: Option<String>,
    /// The plugin's configuration for this binding (any JSON).
    pub config: Option<serde_json::Value>,
    #[serde(default)]
    pub fixtures: Vec<Case>,
}

/// The most source a policy may have; Rhai policies are small.
pub const MAX_SOURCE: usize = 64 * 1024;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VersionView {
    pub id: PolicyVersionId,
    pub layer: Layer,
    pub owner_org_id: Option<OrgId>,
    pub hook: Hook,
    pub number: u32,
    pub kind: String,
    pub sha256: String,
    pub author: String,
    pub created_at: Timestamp,
    pub fixtures: usize,
    pub active: bool,
    pub source: String,
}

impl VersionView {
    fn new(v: &PolicyVersion, active: bool) -> Self {
        Self {
            id: v.id,
            layer: v.key.layer,
            owner_org_id: v.key.owner,
            hook: v.key.hook,
            number: v.number,
            kind: v.kind.clone(),
            sha256: v.sha256.clone(),
            author: v.author.clone(),
            created_at: v.created_at,
            fixtures: v.fixtures.len(),
            active,
            source: v.source.clone(),
        }
    }
}

/// A binding as `GET /v1/policies` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BindingView {
    pub layer: Layer,
    pub owner_org_id: Option<OrgId>,
    pub hook: Hook,
    pub kind: String,
    pub active_version: u32,
    pub sha256: String,
    pub activated_at: Timestamp,
    pub activated_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<super::reload::FileStatus>,
}

fn next_generation(tx: &Tx<'_>) -> Result<u64> {
    let next = stored_generation(&tx.view())? + 1;
    tx.put_meta(GENERATION_KEY, &next.to_le_bytes())?;
    Ok(next)
}

fn versions_of(view: &View<'_>, key: &BindingKey) -> Result<Vec<PolicyVersion>> {
    let mut out = view.policy_versions_of(key)?;
    out.sort_by_key(|v| v.number);
    Ok(out)
}

pub(super) fn active_version(
    view: &View<'_>,
    key: &BindingKey,
) -> Result<Option<(Binding, PolicyVersion)>> {
    let Some(binding) = view.binding(key)? else {
        return Ok(None);
    };
    let version = view.policy_version(binding.version_id)?;
    Ok(version.map(|v| (binding, v)))
}

/// What a new version is checked against, read from one snapshot: its own fixtures, plus (when
/// `inherit`) those of the version it replaces, a case of the same name being replaced by the
/// new one; and which version it replaces, so the write can tell whether that changed.
#[derive(Debug, Clone)]
struct GatePlan {
    cases: Vec<Case>,
    replaces: Option<PolicyVersionId>,
}

fn plan_gate(view: &View<'_>, key: &BindingKey, own: &[Case], inherit: bool) -> Result<GatePlan> {
    let active = active_version(view, key)?;
    let replaces = active.as_ref().map(|(_, v)| v.id);
    let mut cases = match (inherit, active) {
        (true, Some((_, v))) => v.fixtures,
        _ => Vec::new(),
    };
    for case in own {
        cases.retain(|c| c.name != case.name);
        cases.push(case.clone());
    }
    Ok(GatePlan { cases, replaces })
}

/// How many times a version is re-gated because another one was bound while it was tested.
const GATE_ROUNDS: usize = 3;

/// What a stored version records of a compiled, gated policy.
#[derive(Debug, Clone)]
struct VersionSpec {
    key: BindingKey,
    kind: &'static str,
    plugin: Option<String>,
    sha256: String,
    source: String,
    fixtures: Vec<Case>,
    author: String,
}

impl VersionSpec {
    fn of(
        key: BindingKey,
        policy: &CompiledPolicy,
        source: String,
        fixtures: Vec<Case>,
        author: String,
    ) -> Self {
        Self {
            key,
            kind: policy.kind(),
            plugin: match &policy.code {
                Code::Wasm { .. } => Some(policy.sha256.clone()),
                Code::Rhai(_) => None,
            },
            sha256: policy.sha256.clone(),
            source,
            fixtures,
            author,
        }
    }
}

/// Stores and binds a gated version, unless the version it was gated against is no longer the
/// active one (`Ok(None)`: gate it again). A plugin it binds must still be stored and counts
/// against the binding owner's plugin quotas. Keeps at most `versions_per_binding` versions.
fn store_version(
    tx: &Tx<'_>,
    spec: VersionSpec,
    replaces: Option<PolicyVersionId>,
    quotas: &Quotas,
    now: Timestamp,
) -> Result<Option<(PolicyVersion, Binding)>> {
    let view = tx.view();
    let key = spec.key;
    if active_version(&view, &key)?.map(|(_, v)| v.id) != replaces {
        return Ok(None);
    }
    if let Some(sha) = &spec.plugin {
        super::plugins::check_bindable(&view, key.owner, sha, quotas)?;
    }
    let keep = quotas.versions_per_binding;
    let existing = versions_of(&view, &key)?;
    let number = existing.last().map_or(1, |v| v.number.saturating_add(1));
    let version = PolicyVersion {
        id: PolicyVersionId::new(),
        key,
        number,
        kind: spec.kind.into(),
        plugin: spec.plugin,
        source: spec.source,
        sha256: spec.sha256,
        author: spec.author.clone(),
        created_at: now,
        fixtures: spec.fixtures,
    };
    tx.insert_policy_version(&version)?;
    if let Some(sha) = &version.plugin {
        super::plugins::reference(tx, sha, version.id)?;
    }
    let binding = Binding {
        version_id: version.id,
        number,
        generation: next_generation(tx)?,
        activated_at: now,
        activated_by: spec.author,
    };
    tx.put_binding(&key, &binding)?;
    // The newest `keep` stay (the new active one among them); older ones go, oldest first.
    let excess = (existing.len() + 1).saturating_sub(keep.max(1));
    for old in existing.iter().take(excess) {
        delete_version(tx, old)?;
    }
    Ok(Some((version, binding)))
}

/// Removes a stored version and what refers to it (never the active one: callers keep it).
fn delete_version(tx: &Tx<'_>, version: &PolicyVersion) -> Result<()> {
    tx.delete_policy_version(version)?;
    if let Some(sha) = &version.plugin {
        super::plugins::release(tx, sha, version.id)?;
    }
    Ok(())
}

/// Removes every binding and version owned by `org` (its own layer and, for a provider, its
/// customers' layer), for the organization's deletion. Returns the keys unbound and the
/// generation of the change, for the engine once the transaction is durable.
pub fn delete_policies_of(tx: &Tx<'_>, org: OrgId) -> Result<(Vec<BindingKey>, u64)> {
    let view = tx.view();
    let mut unbound = Vec::new();
    for key in BindingKey::owned_by(org) {
        for version in versions_of(&view, &key)? {
            delete_version(tx, &version)?;
        }
        if view.binding(&key)?.is_some() {
            tx.delete_binding(&key)?;
            unbound.push(key);
        }
    }
    let generation = if unbound.is_empty() {
        0
    } else {
        next_generation(tx)?
    };
    Ok((unbound, generation))
}

/// How a gate ran, with the policy handed back for activation.
type Gated = (CompiledPolicy, GateOutcome);

fn author_of(actor: Actor) -> String {
    actor
        .user_id
        .map_or_else(|| "operator".to_owned(), |u| u.to_string())
}

/// A policy that denies everything, standing in for a stored version that no longer compiles
/// (fail closed rather than silently dropping a layer).
fn deny_all(app: &App, hook: Hook, why: &str) -> Result<CompiledPolicy> {
    let source = format!(
        "fn {}(input) {{ deny(\"{}\") }}",
        hook.name(),
        why.replace(['"', '\\'], "'")
    );
    app.policies
        .runtime()
        .compile(hook, "fail-closed", &source)
        .map_err(Error::Policy)
}

impl App {
    /// Checks the caller may `verb` (`write` or `read`) the target's policies.
    fn authorize_target(
        &self,
        view: &View<'_>,
        actor: Actor,
        target: Target,
        verb: &str,
    ) -> Result<Option<Access>> {
        match target {
            Target::Platform => {
                self.authorize_global(actor, &format!("platform_policy.{verb}"), Value::Null)?;
                Ok(None)
            }
            Target::Customers(sp) => {
                let access = self.access(
                    view,
                    actor,
                    sp,
                    &format!("customer_policy.{verb}"),
                    Value::Null,
                )?;
                if access.org.hierarchy != Hierarchy::Supernode {
                    return Err(Error::Conflict(format!(
                        "`{}` is not a service provider; it has no customer layer",
                        access.org.tenant_id
                    )));
                }
                Ok(Some(access))
            }
            Target::Org(org) => Ok(Some(self.access(
                view,
                actor,
                org,
                &format!("policy.{verb}"),
                Value::Null,
            )?)),
        }
    }

    /// Compiles an uploaded policy, or explains why it does not compile.
    pub fn compile_upload(&self, hook: Hook, body: &VersionBody) -> Result<CompiledPolicy> {
        let source = match (&body.source, &body.plugin) {
            (Some(source), None) => source,
            (None, Some(sha)) => return self.bind_plugin(hook, sha, body.config.as_ref()),
            _ => {
                return Err(Error::field(
                    "policy is invalid",
                    "source",
                    "give either `source` (Rhai) or `plugin` (a plugin's SHA-256)",
                ));
            }
        };
        if source.len() > MAX_SOURCE {
            return Err(Error::field(
                "policy is invalid",
                "source",
                format!("at most {MAX_SOURCE} bytes"),
            ));
        }
        self.policies
            .runtime()
            .compile(hook, hook.name(), source)
            .map_err(|e| Error::field("policy does not compile", "source", e))
    }

    /// A plugin bound to `hook` with `config`: it must exist and implement the hook.
    fn bind_plugin(
        &self,
        hook: Hook,
        sha: &str,
        config: Option<&serde_json::Value>,
    ) -> Result<CompiledPolicy> {
        let config = config.map_or_else(|| "{}".to_owned(), serde_json::Value::to_string);
        // Every call hands the plugin its config within the input limit: a larger one could
        // never run, and is refused before the plugin is loaded or asked about it.
        let wasm = self.policies.wasm().map_err(Error::Setup)?;
        let max = wasm.limits.max_input_bytes;
        if config.len() > max {
            return Err(Error::field(
                "policy is invalid",
                "config",
                format!(
                    "the config is {} bytes as JSON; at most {max} are allowed ([wasm] \
                     max_input_bytes)",
                    config.len()
                ),
            ));
        }
        let plugin = self.load_plugin(sha).map_err(|e| match e {
            Error::NotFound(_) => Error::field(
                "policy is invalid",
                "plugin",
                format!("no plugin `{sha}` was uploaded"),
            ),
            other => other,
        })?;
        if !plugin.hooks.contains(&hook) {
            return Err(Error::field(
                "policy is invalid",
                "plugin",
                format!("plugin `{sha}` does not implement `{}`", hook.name()),
            ));
        }
        // A config the plugin cannot work with is refused now, not denied on every call.
        wasm.check_config(&plugin, &config)
            .map_err(|why| Error::field("policy is invalid", "config", why))?;
        Ok(CompiledPolicy::plugin(hook, plugin.sha256.clone(), config))
    }

    /// Rebuilds a stored version (at start, on rollback).
    pub fn compile_version(&self, version: &PolicyVersion) -> Result<CompiledPolicy> {
        let hook = version.key.hook;
        let mut policy = match &version.plugin {
            None => self
                .policies
                .runtime()
                .compile(hook, hook.name(), &version.source)
                .map_err(Error::Policy)?,
            Some(sha) => {
                self.stage_plugin(sha)?;
                CompiledPolicy::plugin(hook, sha.clone(), version.source.clone())
            }
        };
        policy.set_number(version.number);
        Ok(policy)
    }

    /// A new version for `target`'s layer: authorized, compiled, gated by the fixtures off
    /// the writer, then bound.
    pub async fn put_policy(
        &self,
        actor: Actor,
        target: Target,
        hook: Hook,
        body: VersionBody,
    ) -> Result<VersionView> {
        // Compiling and gating cost CPU: only for a caller who may write this layer.
        self.store
            .read(|view| self.authorize_target(view, actor, target, "write"))?;
        // The first few bad cases say enough; a long list only costs the caller bandwidth.
        const MAX_LISTED_ERRORS: usize = 20;
        let bad_inputs = fixtures::check_inputs(hook, &body.fixtures);
        if !bad_inputs.is_empty() {
            return Err(Error::invalid(
                format!(
                    "fixtures do not fit the `{}` input contract (GET /v1/policy-schemas/{})",
                    hook.name(),
                    hook.name()
                ),
                bad_inputs
                    .into_iter()
                    .take(MAX_LISTED_ERRORS)
                    .map(|(field, reason)| FieldError::new(field, reason))
                    .collect(),
            ));
        }
        let policy = self.compile_upload(hook, &body)?;
        // What the version keeps: the Rhai source, or the plugin's configuration.
        let source = match &policy.code {
            Code::Rhai(_) => body.source.clone().unwrap_or_default(),
            Code::Wasm { config, .. } => config.clone(),
        };
        // A tenant publishes one version at a time: its share of policy jobs (and the
        // caller's) is held from the first gate to the write, so concurrent uploads are told to
        // retry (429) rather than gated against a version about to change.
        let reservation = target
            .tenant()
            .map(|org| self.policy_jobs.reserve(&org, &actor.principal()))
            .transpose()?;
        let (version, _) = self
            .publish(
                target,
                reservation,
                hook,
                policy,
                source,
                body.fixtures,
                author_of(actor),
                move |app: &App, tx: &Tx<'_>, version: &PolicyVersion| {
                    let access = app.authorize_target(&tx.view(), actor, target, "write")?;
                    if let Some(access) = &access {
                        audit(
                            tx,
                            access,
                            "policy.write",
                            Some(format!("{} v{}", version.key.hook.name(), version.number)),
                            app.clock.now(),
                        )?;
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(VersionView::new(&version, true))
    }

    /// Gates `policy` by its fixtures (and, for a tenant layer, those of the version it
    /// replaces) outside the writer, on the policy job threads under `reservation` (or, for
    /// the platform's own files, on a blocking thread), then stores and binds it with `also` in
    /// the same transaction, and swaps it into the engine. The platform's files inherit
    /// nothing: the directory is their source of truth.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn publish(
        &self,
        target: Target,
        reservation: Option<Reservation>,
        hook: Hook,
        mut policy: CompiledPolicy,
        source: String,
        own: Vec<Case>,
        author: String,
        also: impl Fn(&App, &Tx<'_>, &PolicyVersion) -> Result<()> + Clone + Send + 'static,
    ) -> Result<(PolicyVersion, Binding)> {
        let key = target.key(hook);
        let tenant = target != Target::Platform;
        let max = self.settings.quotas.fixtures_per_version;
        for _ in 0..GATE_ROUNDS {
            let plan = self
                .store
                .read(|view| plan_gate(view, &key, &own, tenant))?;
            if tenant && plan.cases.len() > max {
                return Err(Error::field(
                    "policy is invalid",
                    "fixtures",
                    format!(
                        "at most {max} fixtures gate a version, its own and those it inherits together; this one has {}",
                        plan.cases.len()
                    ),
                ));
            }
            let (back, outcome) = self
                .run_gate(reservation.as_ref(), policy, plan.cases.clone())
                .await?;
            policy = back;
            match outcome {
                GateOutcome::OverBudget { evaluated } => {
                    return Err(Error::field(
                        "policy is invalid",
                        "fixtures",
                        format!(
                            "the fixtures used more than the gate's CPU budget of {} ms ({evaluated} of {} cases ran); use fewer or cheaper cases",
                            self.settings.quotas.policy_job_cpu_ms,
                            plan.cases.len()
                        ),
                    ));
                }
                GateOutcome::Ran(failures) if !failures.is_empty() => {
                    return Err(Error::FixturesFailed(failures));
                }
                GateOutcome::Ran(_) => {}
            }
            let spec = VersionSpec::of(key, &policy, source.clone(), plan.cases, author.clone());
            let quotas = self.settings.quotas;
            let (app, also) = (self.clone(), also.clone());
            let stored = self
                .write(move |tx| {
                    let now = app.clock.now();
                    let Some((version, binding)) =
                        store_version(tx, spec, plan.replaces, &quotas, now)?
                    else {
                        return Ok(None);
                    };
                    also(&app, tx, &version)?;
                    Ok(Some((version, binding)))
                })
                .await?;
            if let Some((version, binding)) = stored {
                policy.set_number(version.number);
                self.policies
                    .apply(key, binding.generation, Some(Arc::new(policy)));
                return Ok((version, binding));
            }
        }
        Err(Error::Conflict(
            "other versions of this policy kept being bound while this one was tested; retry"
                .into(),
        ))
    }

    /// Runs a gate: a tenant's on the policy job threads within its CPU budget and its share
    /// of concurrent jobs; the platform's own (the operator's files) on a blocking thread.
    async fn run_gate(
        &self,
        reservation: Option<&Reservation>,
        policy: CompiledPolicy,
        cases: Vec<Case>,
    ) -> Result<Gated> {
        let engine = Arc::clone(&self.policies);
        let budget = std::time::Duration::from_millis(self.settings.quotas.policy_job_cpu_ms);
        match reservation {
            Some(reservation) => {
                self.policy_jobs
                    .run_reserved(reservation, move || {
                        let budget = CpuBudget::start(budget);
                        let outcome = fixtures::check_within(&engine, &policy, &cases, &budget);
                        (policy, outcome)
                    })
                    .await
            }
            None => tokio::task::spawn_blocking(move || {
                let failures = fixtures::check(&engine, &policy, &cases);
                (policy, GateOutcome::Ran(failures))
            })
            .await
            .map_err(|e| Error::Setup(format!("the platform policy gate failed: {e}"))),
        }
    }

    pub fn policy_versions(
        &self,
        actor: Actor,
        target: Target,
        hook: Hook,
        page: PageRequest,
    ) -> Result<Page<VersionView>> {
        self.store.read(|view| {
            self.authorize_target(view, actor, target, "read")?;
            let key = target.key(hook);
            let active = active_version(view, &key)?.map(|(b, _)| b.version_id);
            let items: Vec<VersionView> = versions_of(view, &key)?
                .iter()
                .filter(|v| page.after.is_none_or(|a| v.id.key() > a))
                .map(|v| VersionView::new(v, Some(v.id) == active))
                .take(page.limit + 1)
                .collect();
            Ok(Page::from_sorted(items, page.limit, |v: &VersionView| {
                v.id.key()
            }))
        })
    }

    /// Re-points the binding at an earlier (or later) version of the same layer and hook.
    pub async fn rollback_policy(
        &self,
        actor: Actor,
        target: Target,
        hook: Hook,
        number: u32,
    ) -> Result<VersionView> {
        let key = target.key(hook);
        // Compiled before anything is written: a version that no longer compiles is refused
        // with the binding unchanged.
        let version = self.store.read(|view| {
            self.authorize_target(view, actor, target, "write")?;
            versions_of(view, &key)?
                .into_iter()
                .find(|v| v.number == number)
                .ok_or(Error::NotFound("policy version"))
        })?;
        let policy = self.compile_version(&version)?;
        let app = self.clone();
        let binding = self
            .write(move |tx| {
                let view = tx.view();
                let access = app.authorize_target(&view, actor, target, "write")?;
                if view.policy_version(version.id)?.is_none() {
                    return Err(Error::NotFound("policy version"));
                }
                let binding = Binding {
                    version_id: version.id,
                    number,
                    generation: next_generation(tx)?,
                    activated_at: app.clock.now(),
                    activated_by: author_of(actor),
                };
                tx.put_binding(&key, &binding)?;
                if let Some(access) = &access {
                    audit(
                        tx,
                        access,
                        "policy.rollback",
                        Some(format!("{} v{number}", hook.name())),
                        app.clock.now(),
                    )?;
                }
                Ok(binding)
            })
            .await?;
        self.policies
            .apply(key, binding.generation, Some(Arc::new(policy)));
        let version = self.store.read(|view| {
            view.policy_version(binding.version_id)?
                .ok_or(Error::NotFound("policy version"))
        })?;
        Ok(VersionView::new(&version, true))
    }

    /// Removes a tenant layer's binding; its versions stay for history and rollback.
    pub async fn unbind_policy(&self, actor: Actor, target: Target, hook: Hook) -> Result<()> {
        if target == Target::Platform {
            return Err(Error::Conflict(
                "the platform layer always has a policy; upload a new version or roll back instead"
                    .into(),
            ));
        }
        let app = self.clone();
        let generation = self
            .write(move |tx| {
                let view = tx.view();
                let access = app.authorize_target(&view, actor, target, "write")?;
                let key = target.key(hook);
                if view.binding(&key)?.is_none() {
                    return Err(Error::NotFound("policy binding"));
                }
                tx.delete_binding(&key)?;
                let generation = next_generation(tx)?;
                if let Some(access) = &access {
                    audit(
                        tx,
                        access,
                        "policy.unbind",
                        Some(hook.name().to_owned()),
                        app.clock.now(),
                    )?;
                }
                Ok(generation)
            })
            .await?;
        self.policies.apply(target.key(hook), generation, None);
        Ok(())
    }

    /// Every binding the caller may see: all for the operator; otherwise the platform's and
    /// those of the organizations the caller belongs to and their providers.
    pub fn list_bindings(&self, actor: Actor) -> Result<Vec<BindingView>> {
        self.store.read(|view| {
            let mut prefixes = vec![BindingKey::owner_prefix(Layer::Platform, None)];
            match actor.user_id {
                None => prefixes = vec![String::new()],
                Some(user) => {
                    for org_id in view.orgs_of(user)? {
                        if super::access::active_role(view, org_id, user)?.is_none() {
                            continue;
                        }
                        prefixes.push(BindingKey::owner_prefix(Layer::Organization, Some(org_id)));
                        prefixes.push(BindingKey::owner_prefix(
                            Layer::ServiceProvider,
                            Some(org_id),
                        ));
                        if let Some(sp) = super::access::load_org(view, org_id)?.service_provider_id
                        {
                            prefixes
                                .push(BindingKey::owner_prefix(Layer::ServiceProvider, Some(sp)));
                        }
                    }
                }
            }
            prefixes.sort();
            prefixes.dedup();
            let mut out = Vec::new();
            for prefix in prefixes {
                for (_, binding) in view.bindings_under(&prefix)? {
                    let Some(v) = view.policy_version(binding.version_id)? else {
                        continue;
                    };
                    let file = (v.key.layer == Layer::Platform)
                        .then(|| self.platform_files.status(v.key.hook));
                    out.push(BindingView {
                        layer: v.key.layer,
                        owner_org_id: v.key.owner,
                        hook: v.key.hook,
                        kind: v.kind,
                        active_version: binding.number,
                        sha256: v.sha256,
                        activated_at: binding.activated_at,
                        activated_by: binding.activated_by,
                        file,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Brings the engine in step with the stored bindings: compiles and applies each one newer
    /// than what runs, and drops what runs but is no longer bound. At start that loads
    /// everything; on a shared store another server's changes arrive this way
    /// (`app::follow`). Answers how many bindings it applied.
    pub fn sync_bindings(&self) -> Result<usize> {
        let (stored, generation) = self.store.read(|view| {
            let mut out = Vec::new();
            for (_, binding) in view.bindings_under("")? {
                if let Some(v) = view.policy_version(binding.version_id)? {
                    out.push((binding, v));
                }
            }
            Ok((out, stored_generation(view)?))
        })?;
        let running = self.policies.snapshot();
        let stored_keys: std::collections::HashSet<BindingKey> =
            stored.iter().map(|(_, version)| version.key).collect();
        let mut applied = 0;
        for (binding, version) in &stored {
            if running
                .generation(&version.key)
                .is_some_and(|g| g >= binding.generation)
            {
                continue;
            }
            let hook = version.key.hook;
            let policy = match self.compile_version(version) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(key = %version.key.text(), error = %e, "a stored policy version no longer compiles; its layer denies until it is replaced");
                    deny_all(
                        self,
                        hook,
                        &format!(
                            "stored policy version {} no longer compiles",
                            version.number
                        ),
                    )?
                }
            };
            self.policies
                .apply(version.key, binding.generation, Some(Arc::new(policy)));
            applied += 1;
        }
        for key in running.bound_keys().filter(|k| !stored_keys.contains(k)) {
            self.policies.apply(*key, generation, None);
        }
        Ok(applied)
    }

    /// The generation of the newest binding change stored, by whichever server made it.
    pub fn policy_generation(&self) -> Result<u64> {
        self.store.read(stored_generation)
    }
}

fn stored_generation(view: &View<'_>) -> Result<u64> {
    Ok(view
        .meta(GENERATION_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_le_bytes))
}
