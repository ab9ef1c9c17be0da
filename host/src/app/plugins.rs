//! The plugin registry: components uploaded by an organization (or the operator), named by
//! their SHA-256, validated against the WIT world, stored with their compiled artifact so a
//! restart does not recompile.
//!
//! Content is shared, ownership is not: a component is stored once however many organizations
//! upload it, and each upload is an ownership that counts against that organization's quotas
//! (`plugins_per_org`, `plugin_bytes_per_org`). A component is kept while some organization
//! owns it or some policy version binds it; when neither holds any more it is collected, in
//! the transaction that let go of it.
//!
//! A compiled artifact is native code that is loaded without being validated again, so it is
//! stored with a MAC under the server's key ([`super::server_key`]): an artifact this server
//! did not write (a restored or altered file) is compiled again from its component instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::App;
use super::actor::Actor;
use super::quotas::Quotas;
use super::server_key::{Purpose, TAG_BYTES};
use crate::domain::ids::{OrgId, PolicyVersionId};
use crate::domain::member::Role;
use crate::error::{Error, Result};
use crate::policy::Hook;
use crate::policy::version::BindingKey;
use crate::policy::wasm::{Described, LoadedPlugin, Metadata, sha256_hex};
pub use crate::storage::records::plugins::{Ownership, PluginRecord};
use crate::storage::{Tx, View};

/// A stored component as anyone who knows its hash sees it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PluginView {
    pub sha256: String,
    pub size: usize,
    pub hooks: Vec<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// Whose upload a request is: an organization's, or the operator's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(pub Option<OrgId>);

impl Owner {
    fn tenant(self) -> String {
        self.0
            .map_or_else(|| "platform".to_owned(), |o| o.to_string())
    }
}

fn uploader(actor: Actor) -> String {
    actor
        .user_id
        .map_or_else(|| "operator".to_owned(), |u| u.to_string())
}

fn invalid(message: String) -> Error {
    Error::field("plugin is invalid", "body", message)
}

/// The components an organization's kept policy versions bind (its own layer and, for a
/// provider, its customers' layer).
fn bound_by(view: &View<'_>, org: OrgId) -> Result<BTreeSet<String>> {
    let mut shas = BTreeSet::new();
    for key in BindingKey::owned_by(org) {
        for version in view.policy_versions_of(&key)? {
            shas.extend(version.plugin);
        }
    }
    Ok(shas)
}

/// What counts against an owner's quotas: every component it has uploaded or still binds
/// (giving up an upload that a kept version binds frees nothing).
fn usage(view: &View<'_>, owner: Owner) -> Result<BTreeMap<String, usize>> {
    let mut used = BTreeMap::new();
    for o in view.ownerships_of(owner.0)? {
        used.insert(o.sha256, o.size);
    }
    if let Some(org) = owner.0 {
        for sha in bound_by(view, org)? {
            if let Some(record) = view.plugin(&sha)? {
                used.insert(sha, record.size);
            }
        }
    }
    Ok(used)
}

/// Refuses to make `owner` hold `sha` (of `size` bytes) past its quotas; the operator's own
/// uploads are on none.
pub(super) fn check_quotas(
    view: &View<'_>,
    owner: Owner,
    sha: &str,
    size: usize,
    quotas: &Quotas,
) -> Result<()> {
    if owner.0.is_none() {
        return Ok(());
    }
    let used = usage(view, owner)?;
    if used.contains_key(sha) {
        return Ok(());
    }
    let bytes = used.values().sum();
    let remedy = "delete an upload nothing binds any more (`DELETE /v1/plugins/{sha256}`)";
    Quotas::check(
        "plugins_per_org",
        used.len(),
        1,
        quotas.plugins_per_org,
        remedy,
    )?;
    Quotas::check(
        "plugin_bytes_per_org",
        bytes,
        size,
        quotas.plugin_bytes_per_org,
        remedy,
    )
}

/// The stored component `sha` of `size` bytes, for a version about to bind it: it must still be
/// stored (it may have been collected since the binding was compiled), and the binding owner
/// must have room for it.
pub(super) fn check_bindable(
    view: &View<'_>,
    owner: Option<OrgId>,
    sha: &str,
    quotas: &Quotas,
) -> Result<()> {
    let Some(record) = view.plugin(sha)? else {
        return Err(Error::field(
            "policy is invalid",
            "plugin",
            format!("plugin `{sha}` is no longer stored; upload it again"),
        ));
    };
    check_quotas(view, Owner(owner), sha, record.size, quotas)
}

/// Records that a policy version binds `sha`, so the component is kept while it does.
pub(super) fn reference(tx: &Tx<'_>, sha: &str, version: PolicyVersionId) -> Result<()> {
    Ok(tx.reference_plugin(sha, version)?)
}

/// A version that bound `sha` is gone; the component goes too if nothing else keeps it.
pub(super) fn release(tx: &Tx<'_>, sha: &str, version: PolicyVersionId) -> Result<()> {
    tx.unreference_plugin(sha, version)?;
    tx.collect_plugin_if_unused(sha)?;
    Ok(())
}

/// Drops every upload of `org` (its deletion); components nobody else keeps are collected.
pub fn delete_uploads_of(tx: &Tx<'_>, org: OrgId) -> Result<()> {
    let owner = Owner(Some(org));
    for owned in tx.view().ownerships_of(owner.0)? {
        tx.delete_ownership(owner.0, &owned.sha256)?;
        tx.collect_plugin_if_unused(&owned.sha256)?;
    }
    Ok(())
}

/// A compiled component ready to store: the bytes, the artifact with its tag, the loaded plugin.
struct Compiled {
    bytes: Arc<Vec<u8>>,
    tagged_artifact: Arc<Vec<u8>>,
    plugin: LoadedPlugin,
}

impl App {
    /// Whose upload (or listing) a request is, checked before any bytes are read: the
    /// organization named, else the one organization the caller administers; the operator
    /// without an organization uploads for the platform. Uploading needs the organization's
    /// owner or an admin (the `authorize` action `plugin.upload`).
    pub fn plugin_owner(&self, actor: Actor, org: Option<OrgId>, action: &str) -> Result<Owner> {
        let org = match (org, actor.user_id) {
            (Some(org), _) => org,
            (None, None) => {
                self.authorize_global(actor, action, Value::Null)?;
                return Ok(Owner(None));
            }
            (None, Some(user)) => self.store.read(|view| the_org_administered(view, user))?,
        };
        self.store.read(|view| {
            self.access(view, actor, org, action, Value::Null)?;
            Ok(Owner(Some(org)))
        })
    }

    /// Validates and stores a component for `owner` (from [`plugin_owner`](Self::plugin_owner)).
    /// The same bytes again answer the same record; new bytes count against the owner's quotas
    /// and are compiled on the policy job threads.
    pub async fn upload_plugin(
        &self,
        actor: Actor,
        owner: Owner,
        bytes: Vec<u8>,
    ) -> Result<PluginRecord> {
        let sha = sha256_hex(&bytes);
        let size = bytes.len();
        let (known, owned) = self.store.read(|view| {
            let known = view.plugin(&sha)?;
            let owned = view.ownership(owner.0, &sha)?.is_some();
            if known.is_none() || !owned {
                check_quotas(view, owner, &sha, size, &self.settings.quotas)?;
            }
            Ok((known, owned))
        })?;
        if let (Some(record), true) = (&known, owned) {
            return Ok(record.clone());
        }
        let compiled = match known {
            Some(_) => None,
            None => Some(self.compile_plugin(actor, owner, bytes).await?),
        };
        let now = self.clock.now();
        let record = PluginRecord {
            sha256: sha.clone(),
            size,
            hooks: compiled
                .as_ref()
                .map(|c| c.plugin.hooks.clone())
                .unwrap_or_default(),
            contract: compiled.as_ref().map(|c| c.plugin.contract.to_owned()),
            metadata: compiled.as_ref().and_then(|c| c.plugin.metadata.clone()),
            uploaded_at: now,
            uploader: uploader(actor),
        };
        let stored = compiled.as_ref().map(|c| {
            (
                Arc::clone(&c.bytes),
                Arc::clone(&c.tagged_artifact),
                record.clone(),
            )
        });
        let app = self.clone();
        let record = self
            .write(move |tx| {
                let view = tx.view();
                if let Some(org) = owner.0 {
                    app.access(&view, actor, org, "plugin.upload", Value::Null)?;
                }
                let record = match view.plugin(&sha)? {
                    Some(existing) => existing,
                    None => {
                        let Some((bytes, artifact, record)) = &stored else {
                            return Err(Error::Conflict(
                                "the plugin was deleted while it was uploaded again; retry".into(),
                            ));
                        };
                        tx.insert_plugin(record, bytes, artifact)?;
                        record.clone()
                    }
                };
                if view.ownership(owner.0, &sha)?.is_none() {
                    check_quotas(&view, owner, &sha, record.size, &app.settings.quotas)?;
                    let ownership = Ownership {
                        org_id: owner.0,
                        sha256: sha.clone(),
                        size: record.size,
                        hooks: record.hooks.clone(),
                        contract: record.contract.clone(),
                        metadata: record.metadata.clone(),
                        uploaded_at: now,
                        uploader: uploader(actor),
                    };
                    tx.insert_ownership(&ownership)?;
                }
                Ok(record)
            })
            .await?;
        if let Some(compiled) = compiled {
            // Loaded again from its file, so the compiled copy in memory is not kept.
            let artifact = &compiled.tagged_artifact[TAG_BYTES..];
            // Taken at the stored record's word, as every later load is.
            let described = record.described();
            let mapped =
                self.map_artifact(artifact, &record.sha256, record.size, described.as_ref());
            self.policies
                .plugins()
                .keep(&record.sha256, Arc::new(mapped.unwrap_or(compiled.plugin)));
        }
        Ok(record)
    }

    /// Checks the component's size and function count, then compiles it on the compile lane
    /// (one low-priority thread, one compilation per organization at a time), without
    /// wasmtime's parallel compilation: one upload costs one thread, however large, and never
    /// holds up other tenants' gates, previews and dry runs.
    async fn compile_plugin(&self, actor: Actor, owner: Owner, bytes: Vec<u8>) -> Result<Compiled> {
        let app = self.clone();
        self.plugin_compiles
            .run(&owner.tenant(), &actor.principal(), move || {
                let wasm = app.policies.wasm().map_err(Error::Policy)?;
                let (plugin, artifact) = wasm
                    .compile(&bytes)
                    .map_err(|f| invalid(format!("{}: {}", f.kind, f.message)))?;
                let tag = app
                    .server_key
                    .tag(Purpose::ArtifactTag, &[plugin.sha256.as_bytes(), &artifact]);
                let mut tagged = tag.to_vec();
                tagged.extend_from_slice(&artifact);
                Ok(Compiled {
                    bytes: Arc::new(bytes),
                    tagged_artifact: Arc::new(tagged),
                    plugin,
                })
            })
            .await?
    }

    /// Gives up `owner`'s upload of `sha`; the component is collected once no owner and no
    /// policy version holds it.
    pub async fn delete_plugin(&self, actor: Actor, owner: Owner, sha: String) -> Result<()> {
        let app = self.clone();
        let collected = self
            .write(move |tx| {
                let view = tx.view();
                if let Some(org) = owner.0 {
                    app.access(&view, actor, org, "plugin.delete", Value::Null)?;
                }
                if view.ownership(owner.0, &sha)?.is_none() {
                    return Err(Error::NotFound("plugin"));
                }
                tx.delete_ownership(owner.0, &sha)?;
                let collected = tx.collect_plugin_if_unused(&sha)?;
                Ok(collected.then_some(sha))
            })
            .await?;
        if let Some(sha) = collected {
            self.forget_plugin(&sha);
        }
        Ok(())
    }

    /// Lets go of the loaded plugins the store no longer holds, however they were collected
    /// (their last upload deleted, their organization deleted, their last version retired by
    /// the quota, or any of these on another server): their loaded copy and their artifact
    /// file. The sweeper calls it on every pass; returns how many it let go of.
    pub fn forget_collected_plugins(&self) -> Result<usize> {
        let mut loaded: BTreeSet<String> = self.policies.plugins().shas().into_iter().collect();
        loaded.extend(self.artifact_files.placed());
        let collected: Vec<String> = self.store.read(|view| {
            let mut collected = Vec::new();
            for sha in loaded {
                if view.plugin(&sha)?.is_none() {
                    collected.push(sha);
                }
            }
            Ok(collected)
        })?;
        for sha in &collected {
            self.forget_plugin(sha);
        }
        Ok(collected.len())
    }

    fn forget_plugin(&self, sha: &str) {
        self.policies.plugins().forget(sha);
        self.artifact_files.remove(sha);
    }

    /// A plugin by SHA-256: anyone who knows the hash may see what it is (it names content,
    /// not a tenant), never who uploaded it.
    pub fn get_plugin(&self, actor: Actor, sha: &str) -> Result<PluginView> {
        self.authorize_global(actor, "plugin.read", Value::Null)?;
        self.store.read(|view| {
            let record = view.plugin(sha)?.ok_or(Error::NotFound("plugin"))?;
            Ok(PluginView {
                sha256: record.sha256,
                size: record.size,
                hooks: record.hooks,
                contract: record.contract,
                metadata: record.metadata,
            })
        })
    }

    /// An owner's uploads.
    pub fn list_plugins(&self, owner: Owner) -> Result<Vec<Ownership>> {
        self.store.read(|view| Ok(view.ownerships_of(owner.0)?))
    }

    /// An uploaded plugin's component as uploaded (for what reads its bytes, like policy diff's
    /// literals); `None` when it is not stored.
    pub fn plugin_component(&self, sha: &str) -> Result<Option<Vec<u8>>> {
        self.store.read(|view| Ok(view.plugin_wasm(sha)?))
    }

    /// The loaded plugin (`policy::wasm::resident`), loaded now if it is not.
    pub fn load_plugin(&self, sha: &str) -> Result<Arc<LoadedPlugin>> {
        let plugins = self.policies.plugins();
        if let Some(plugin) = plugins.cached(sha) {
            return Ok(plugin);
        }
        // Asked before loading (the loader reads the record again, on this cold path only): a
        // plugin that was never uploaded must not wait for the one-at-a-time load lock.
        if self.store.read(|view| Ok(view.plugin(sha)?))?.is_none() {
            return Err(Error::NotFound("plugin"));
        }
        plugins.get(sha).map_err(Error::Policy)
    }

    /// Checks that a bound plugin loads, without keeping it loaded unless it already is: its
    /// artifact's MAC and file are checked (or it is compiled again) now, at start-up or when
    /// another server bound it, and its first call loads it from the file placed here. A
    /// plugin loaded or placed by this process was checked already (many bindings name one).
    pub(super) fn stage_plugin(&self, sha: &str) -> Result<()> {
        let checked = self.policies.plugins().cached(sha).is_some()
            || self.artifact_files.placed_path(sha).is_some();
        if !checked {
            drop(self.load_plugin_afresh(sha)?);
        }
        Ok(())
    }

    /// How the server loads a plugin that is not loaded (`policy::wasm::resident`'s loader):
    /// from the artifact file this process placed, else from its stored artifact if this server
    /// wrote it (placing the file), else compiled again from its component (placing the file of
    /// the new artifact, so that the next load is not a compilation).
    pub(super) fn load_plugin_afresh(&self, sha: &str) -> Result<LoadedPlugin> {
        let wasm = self.policies.wasm().map_err(Error::Policy)?;
        let record = self
            .store
            .read(|view| Ok(view.plugin(sha)?))?
            .ok_or(Error::NotFound("plugin"))?;
        let described = record.described();
        if let Some(path) = self.artifact_files.placed_path(sha)
            && let Some(plugin) =
                wasm.load_artifact_file(&path, sha, record.size, described.as_ref())
        {
            return Ok(plugin);
        }
        let (artifact, wasm_bytes) = self
            .store
            .read(|view| Ok((view.plugin_artifact(sha)?, view.plugin_wasm(sha)?)))?;
        let authentic = artifact.as_deref().and_then(|tagged| {
            let (tag, artifact) = tagged.split_at_checked(TAG_BYTES)?;
            self.server_key
                .verify(Purpose::ArtifactTag, &[sha.as_bytes(), artifact], tag)
                .then_some(artifact)
        });
        if let Some(plugin) =
            authentic.and_then(|a| self.map_artifact(a, sha, record.size, described.as_ref()))
        {
            return Ok(plugin);
        }
        tracing::warn!(
            plugin = sha,
            "compiling a plugin again: its stored artifact was not written by this server or this build"
        );
        let bytes = wasm_bytes.ok_or(Error::NotFound("plugin"))?;
        if sha256_hex(&bytes) != sha {
            return Err(Error::Policy(format!(
                "stored plugin `{sha}` does not match its SHA-256; it is not loaded"
            )));
        }
        let (plugin, artifact) = wasm.compile(&bytes).map_err(|f| {
            Error::Policy(format!(
                "stored plugin `{sha}` no longer loads: {}",
                f.message
            ))
        })?;
        // Its next load maps this file instead of compiling again.
        let _ = self.artifact_files.place(sha, &artifact);
        Ok(plugin)
    }

    /// The plugin of the checked `artifact`, its code mapped from its file
    /// ([`super::artifact_files`]), or copied into memory when the file cannot be written;
    /// `None` when this engine cannot use the artifact. With `described` (its stored record's
    /// word) the plugin is not run, so its code is not paged in before a decision needs it.
    fn map_artifact(
        &self,
        artifact: &[u8],
        sha: &str,
        size: usize,
        described: Option<&Described>,
    ) -> Option<LoadedPlugin> {
        let wasm = self.policies.wasm().ok()?;
        match self.artifact_files.place(sha, artifact) {
            Ok(path) => {
                if let Some(plugin) = wasm.load_artifact_file(&path, sha, size, described) {
                    return Some(plugin);
                }
            }
            Err(e) => tracing::warn!(
                plugin = sha,
                error = %e,
                "cannot write the plugin's artifact file; its code is kept in memory"
            ),
        }
        wasm.load_artifact(artifact, sha, size, described)
    }
}

/// The one organization `user` owns or administers, for a request that names none.
fn the_org_administered(view: &View<'_>, user: crate::domain::ids::UserId) -> Result<OrgId> {
    let mut administered = Vec::new();
    for org in view.orgs_of(user)? {
        if matches!(
            super::access::active_role(view, org, user)?,
            Some(Role::Owner | Role::Admin)
        ) {
            administered.push(org);
        }
    }
    match administered.as_slice() {
        [only] => Ok(*only),
        [] => Err(Error::Forbidden {
            reason: "plugins are uploaded by an organization's owner or admin, or the operator"
                .into(),
            layer: "platform".into(),
        }),
        _ => Err(Error::field(
            "request is invalid",
            "org",
            "is required: you administer several organizations; say which one owns the upload",
        )),
    }
}
