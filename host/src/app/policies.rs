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
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PolicyVersionId};
use crate::domain::org::Hierarchy;
use crate::error::{Error, Result};
use crate::policy::compiled::{Code, CompiledPolicy};
use crate::policy::fixtures::{self, Case};
use crate::policy::version::{Binding, BindingKey, PolicyVersion};
use crate::policy::{Hook, Layer};
use crate::storage::{Tx, View, tables};

const GENERATION_KEY: &str = "policy_generation";

/// Whose layer a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Platform,
    /// A provider's layer for all its customers.
    Customers(OrgId),
    Org(OrgId),
}

impl Target {
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
/// The most fixtures one version may carry.
pub const MAX_FIXTURES: usize = 1_000;

#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
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
    let current = tx
        .view()
        .meta(GENERATION_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_le_bytes);
    let next = current + 1;
    tx.put_meta(GENERATION_KEY, &next.to_le_bytes())?;
    Ok(next)
}

fn versions_of(view: &View<'_>, key: &BindingKey) -> Result<Vec<PolicyVersion>> {
    let mut out = Vec::new();
    for id in view.exact(tables::BINDING_VERSIONS, &key.text())? {
        if let Some(v) = view.record::<PolicyVersion>(tables::POLICY_VERSIONS, id)? {
            out.push(v);
        }
    }
    out.sort_by_key(|v| v.number);
    Ok(out)
}

fn active_version(view: &View<'_>, key: &BindingKey) -> Result<Option<(Binding, PolicyVersion)>> {
    let Some(binding) = view.keyed::<Binding>(tables::POLICY_BINDINGS, &key.text())? else {
        return Ok(None);
    };
    let version =
        view.record::<PolicyVersion>(tables::POLICY_VERSIONS, binding.version_id.key())?;
    Ok(version.map(|v| (binding, v)))
}

/// What a new version must pass: its own fixtures, plus (when `inherit`) those of the version
/// it replaces, a case of the same name being replaced by the new one.
fn gate_cases(
    view: &View<'_>,
    key: &BindingKey,
    own: Vec<Case>,
    inherit: bool,
) -> Result<Vec<Case>> {
    let mut cases = if inherit {
        active_version(view, key)?
            .map(|(_, v)| v.fixtures)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    for case in own {
        cases.retain(|c| c.name != case.name);
        cases.push(case);
    }
    Ok(cases)
}

/// The new version and its binding, written once its gate passes.
pub struct Activation {
    pub version: PolicyVersion,
    pub binding: Binding,
    pub policy: CompiledPolicy,
}

/// Gates, stores and binds a compiled policy inside `tx`.
#[allow(clippy::too_many_arguments)]
pub fn activate(
    app: &App,
    tx: &Tx<'_>,
    key: BindingKey,
    mut policy: CompiledPolicy,
    source: String,
    own: Vec<Case>,
    inherit: bool,
    author: String,
) -> Result<Activation> {
    let view = tx.view();
    let now = app.clock.now();
    let cases = gate_cases(&view, &key, own, inherit)?;
    let failures = fixtures::check(&app.policies, &policy, &cases);
    if !failures.is_empty() {
        return Err(Error::FixturesFailed(failures));
    }
    let number = u32::try_from(view.exact(tables::BINDING_VERSIONS, &key.text())?.len())
        .unwrap_or(u32::MAX - 1)
        + 1;
    policy.number = number;
    let version = PolicyVersion {
        id: PolicyVersionId::new(),
        key,
        number,
        kind: policy.kind().into(),
        plugin: match &policy.code {
            Code::Wasm { plugin, .. } => Some(plugin.sha256.clone()),
            Code::Rhai(_) => None,
        },
        source,
        sha256: policy.sha256.clone(),
        author: author.clone(),
        created_at: now,
        fixtures: cases,
    };
    tx.put(tables::POLICY_VERSIONS, version.id.key(), &version)?;
    tx.add_term(tables::BINDING_VERSIONS, &key.text(), version.id.key())?;
    let binding = Binding {
        version_id: version.id,
        number,
        generation: next_generation(tx)?,
        activated_at: now,
        activated_by: author,
    };
    tx.put_keyed(tables::POLICY_BINDINGS, &key.text(), &binding)?;
    Ok(Activation {
        version,
        binding,
        policy,
    })
}

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
        if body.fixtures.len() > MAX_FIXTURES {
            return Err(Error::field(
                "policy is invalid",
                "fixtures",
                format!("at most {MAX_FIXTURES} cases"),
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
        let config = config.map_or_else(|| "{}".to_owned(), serde_json::Value::to_string);
        Ok(plugin_policy(hook, plugin, config))
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
            Some(sha) => plugin_policy(hook, self.load_plugin(sha)?, version.source.clone()),
        };
        policy.number = version.number;
        Ok(policy)
    }

    /// A new version for `target`'s layer: compiled, gated by the fixtures, then bound.
    pub async fn put_policy(
        &self,
        actor: Actor,
        target: Target,
        hook: Hook,
        body: VersionBody,
    ) -> Result<VersionView> {
        let policy = self.compile_upload(hook, &body)?;
        // What the version keeps: the Rhai source, or the plugin's configuration.
        let stored_source = match &policy.code {
            Code::Rhai(_) => body.source.clone().unwrap_or_default(),
            Code::Wasm { config, .. } => config.clone(),
        };
        let app = self.clone();
        let activation = self
            .store
            .write(move |tx| {
                let access = app.authorize_target(&tx.view(), actor, target, "write")?;
                let activation = activate(
                    &app,
                    tx,
                    target.key(hook),
                    policy,
                    stored_source,
                    body.fixtures,
                    true,
                    author_of(actor),
                )?;
                if let Some(access) = &access {
                    audit(
                        tx,
                        access,
                        "policy.write",
                        Some(format!("{} v{}", hook.name(), activation.version.number)),
                        app.clock.now(),
                    )?;
                }
                Ok(activation)
            })
            .await?;
        self.policies.apply(
            activation.version.key,
            activation.binding.generation,
            Some(Arc::new(activation.policy)),
        );
        Ok(VersionView::new(&activation.version, true))
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
        let app = self.clone();
        let (version, binding) = self
            .store
            .write(move |tx| {
                let view = tx.view();
                let access = app.authorize_target(&view, actor, target, "write")?;
                let key = target.key(hook);
                let version = versions_of(&view, &key)?
                    .into_iter()
                    .find(|v| v.number == number)
                    .ok_or(Error::NotFound("policy version"))?;
                let binding = Binding {
                    version_id: version.id,
                    number,
                    generation: next_generation(tx)?,
                    activated_at: app.clock.now(),
                    activated_by: author_of(actor),
                };
                tx.put_keyed(tables::POLICY_BINDINGS, &key.text(), &binding)?;
                if let Some(access) = &access {
                    audit(
                        tx,
                        access,
                        "policy.rollback",
                        Some(format!("{} v{number}", hook.name())),
                        app.clock.now(),
                    )?;
                }
                Ok((version, binding))
            })
            .await?;
        let policy = self.compile_version(&version)?;
        self.policies
            .apply(version.key, binding.generation, Some(Arc::new(policy)));
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
            .store
            .write(move |tx| {
                let view = tx.view();
                let access = app.authorize_target(&view, actor, target, "write")?;
                let key = target.key(hook);
                if view
                    .keyed::<Binding>(tables::POLICY_BINDINGS, &key.text())?
                    .is_none()
                {
                    return Err(Error::NotFound("policy binding"));
                }
                tx.delete_keyed(tables::POLICY_BINDINGS, &key.text())?;
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
                    for org in view.children(tables::USER_ORGS, user.key())? {
                        let org_id = OrgId::from_key(org);
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
                for (_, binding) in
                    view.keyed_prefixed::<Binding>(tables::POLICY_BINDINGS, &prefix)?
                {
                    let Some(v) = view.record::<PolicyVersion>(
                        tables::POLICY_VERSIONS,
                        binding.version_id.key(),
                    )?
                    else {
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

    /// Loads every stored binding into the engine (at start).
    pub fn load_bindings(&self) -> Result<usize> {
        let bound = self.store.read(|view| {
            let mut out = Vec::new();
            for (_, binding) in view.keyed_prefixed::<Binding>(tables::POLICY_BINDINGS, "")? {
                if let Some(v) =
                    view.record::<PolicyVersion>(tables::POLICY_VERSIONS, binding.version_id.key())?
                {
                    out.push((binding, v));
                }
            }
            Ok(out)
        })?;
        for (binding, version) in &bound {
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
        }
        Ok(bound.len())
    }
}

/// A plugin as one layer's policy for `hook`; `config` is what the plugin receives.
fn plugin_policy(
    hook: Hook,
    plugin: Arc<crate::policy::wasm::LoadedPlugin>,
    config: String,
) -> CompiledPolicy {
    CompiledPolicy {
        hook,
        name: format!("plugin {}", plugin.sha256.get(..12).unwrap_or_default()),
        sha256: plugin.sha256.clone(),
        number: 0,
        code: Code::Wasm { plugin, config },
        breaker: Default::default(),
    }
}
