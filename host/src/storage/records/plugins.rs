//! Uploaded Wasm components, stored once by SHA-256 with their compiled artifact, and who
//! keeps each: the owners' uploads (an organization's, or the operator's) and the policy
//! versions that bind it. A component nobody keeps is collected in the transaction that let go
//! of it ([`Tx::collect_plugin_if_unused`]).

use serde::{Deserialize, Serialize};

use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PolicyVersionId};
use crate::policy::Hook;
use crate::policy::wasm::{Described, Metadata};
use crate::storage::{StorageError, Tx, View, tables};

/// A stored component: what `GET /v1/plugins/{sha256}` shows to anyone who knows the hash.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginRecord {
    pub sha256: String,
    pub size: usize,
    pub hooks: Vec<Hook>,
    /// The contract package it implements (absent on records from before 0.2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Its name and version, as it says (contract 0.2.0 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    pub uploaded_at: Timestamp,
    /// Who uploaded it first: `operator` or a user id.
    pub uploader: String,
}

impl PluginRecord {
    /// What the plugin said of itself at upload; `None` on a record from before the contract
    /// was kept, whose plugin is asked again when it loads.
    pub fn described(&self) -> Option<Described> {
        Some(Described {
            hooks: self.hooks.clone(),
            contract: self.contract.clone()?,
            metadata: self.metadata.clone(),
        })
    }
}

/// One organization's upload of a component (none: the operator's).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ownership {
    pub org_id: Option<OrgId>,
    pub sha256: String,
    pub size: usize,
    pub hooks: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    pub uploaded_at: Timestamp,
    pub uploader: String,
}

/// Whose uploads: an organization's, or (None) the operator's own.
fn prefix(owner: Option<OrgId>) -> String {
    match owner {
        Some(org) => format!("{org}:"),
        None => "platform:".to_owned(),
    }
}

fn ownership_key(owner: Option<OrgId>, sha: &str) -> String {
    format!("{}{sha}", prefix(owner))
}

/// The owner's key in the sha -> owners index (0: the operator).
fn index_key(owner: Option<OrgId>) -> u128 {
    owner.map_or(0, OrgId::key)
}

fn wasm_key(sha: &str) -> String {
    format!("wasm:{sha}")
}

fn artifact_key(sha: &str) -> String {
    format!("artifact:{sha}")
}

impl Tx<'_> {
    /// Stores a new component with its (MAC-tagged) compiled artifact.
    pub fn insert_plugin(
        &self,
        record: &PluginRecord,
        wasm: &[u8],
        artifact: &[u8],
    ) -> Result<(), StorageError> {
        let sha = &record.sha256;
        self.put_blob(tables::PLUGIN_BLOBS, &wasm_key(sha), wasm)?;
        self.put_blob(tables::PLUGIN_BLOBS, &artifact_key(sha), artifact)?;
        self.put_keyed(tables::PLUGINS, sha, record)
    }

    /// Records an upload by `ownership.org_id`, which then keeps the component.
    pub fn insert_ownership(&self, ownership: &Ownership) -> Result<(), StorageError> {
        let owner = ownership.org_id;
        let sha = &ownership.sha256;
        self.put_keyed(
            tables::PLUGIN_OWNERSHIPS,
            &ownership_key(owner, sha),
            ownership,
        )?;
        self.add_term(tables::PLUGIN_OWNERS, sha, index_key(owner))
    }

    /// Gives up an upload; the caller collects the component if nothing else keeps it.
    pub fn delete_ownership(&self, owner: Option<OrgId>, sha: &str) -> Result<(), StorageError> {
        self.delete_keyed(tables::PLUGIN_OWNERSHIPS, &ownership_key(owner, sha))?;
        self.remove_term(tables::PLUGIN_OWNERS, sha, index_key(owner))
    }

    /// Records that a policy version binds `sha`, so the component is kept while it does.
    pub fn reference_plugin(
        &self,
        sha: &str,
        version: PolicyVersionId,
    ) -> Result<(), StorageError> {
        self.add_term(tables::PLUGIN_VERSIONS, sha, version.key())
    }

    /// A version that bound `sha` is gone.
    pub fn unreference_plugin(
        &self,
        sha: &str,
        version: PolicyVersionId,
    ) -> Result<(), StorageError> {
        self.remove_term(tables::PLUGIN_VERSIONS, sha, version.key())
    }

    /// Deletes the component, its artifact and its record once no owner and no version keep
    /// it. Returns whether it did.
    pub fn collect_plugin_if_unused(&self, sha: &str) -> Result<bool, StorageError> {
        let view = self.view();
        if !view.exact(tables::PLUGIN_OWNERS, sha)?.is_empty()
            || !view.exact(tables::PLUGIN_VERSIONS, sha)?.is_empty()
        {
            return Ok(false);
        }
        self.delete_keyed(tables::PLUGINS, sha)?;
        self.delete_keyed(tables::PLUGIN_BLOBS, &wasm_key(sha))?;
        self.delete_keyed(tables::PLUGIN_BLOBS, &artifact_key(sha))?;
        Ok(true)
    }
}

impl View<'_> {
    pub fn plugin(&self, sha: &str) -> Result<Option<PluginRecord>, StorageError> {
        self.keyed(tables::PLUGINS, sha)
    }

    pub fn ownership(
        &self,
        owner: Option<OrgId>,
        sha: &str,
    ) -> Result<Option<Ownership>, StorageError> {
        self.keyed(tables::PLUGIN_OWNERSHIPS, &ownership_key(owner, sha))
    }

    /// Every upload of `owner`, in hash order.
    pub fn ownerships_of(&self, owner: Option<OrgId>) -> Result<Vec<Ownership>, StorageError> {
        Ok(self
            .keyed_prefixed::<Ownership>(tables::PLUGIN_OWNERSHIPS, &prefix(owner))?
            .into_iter()
            .map(|(_, o)| o)
            .collect())
    }

    /// The component's bytes.
    pub fn plugin_wasm(&self, sha: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.blob(tables::PLUGIN_BLOBS, &wasm_key(sha))
    }

    /// The component's compiled artifact, as stored (MAC-tagged).
    pub fn plugin_artifact(&self, sha: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.blob(tables::PLUGIN_BLOBS, &artifact_key(sha))
    }
}
