//! Policy versions and bindings: what is stored about a policy, and which version a layer
//! uses for a hook.

use serde::{Deserialize, Serialize};

use super::fixtures::Case;
use super::hook::{Hook, Layer};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PolicyVersionId};

/// One layer's slot for one hook: the platform's, a provider's for its customers, or an
/// organization's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BindingKey {
    pub layer: Layer,
    /// The provider (service-provider layer) or the organization (organization layer).
    pub owner: Option<OrgId>,
    pub hook: Hook,
}

impl BindingKey {
    pub fn platform(hook: Hook) -> Self {
        Self {
            layer: Layer::Platform,
            owner: None,
            hook,
        }
    }

    /// Every key an organization owns: its own layer and, for a provider, its customers'
    /// layer, one per hook.
    pub fn owned_by(org: OrgId) -> impl Iterator<Item = BindingKey> {
        [Layer::Organization, Layer::ServiceProvider]
            .into_iter()
            .flat_map(move |layer| {
                Hook::ALL.into_iter().map(move |hook| BindingKey {
                    layer,
                    owner: Some(org),
                    hook,
                })
            })
    }

    /// The storage key, `"{layer}:{owner}:{hook}"`; an owner's keys share a prefix.
    pub fn text(&self) -> String {
        format!(
            "{}{}",
            Self::owner_prefix(self.layer, self.owner),
            self.hook.name()
        )
    }

    pub fn owner_prefix(layer: Layer, owner: Option<OrgId>) -> String {
        match owner {
            Some(o) => format!("{}:{o}:", layer.name()),
            None => format!("{}:-:", layer.name()),
        }
    }
}

/// An immutable, numbered policy version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub id: PolicyVersionId,
    pub key: BindingKey,
    /// 1, 2, 3... per binding key.
    pub number: u32,
    /// `rhai` or `wasm`.
    pub kind: String,
    /// For `wasm`: the plugin's SHA-256 (its content; `sha256` below is the same).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Rhai source, or for `wasm` the plugin's JSON configuration.
    pub source: String,
    pub sha256: String,
    /// `operator`, a user id, or `file:{path}` for platform files.
    pub author: String,
    pub created_at: Timestamp,
    /// The fixtures this version passed: its own and those of the version it replaced.
    pub fixtures: Vec<Case>,
}

/// Which version a binding key uses now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binding {
    pub version_id: PolicyVersionId,
    pub number: u32,
    /// Orders every binding change; the engine applies a change only if it is newer than what
    /// it has, so concurrent activations land in commit order.
    pub generation: u64,
    pub activated_at: Timestamp,
    pub activated_by: String,
}
