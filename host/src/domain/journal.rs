//! What happened: the audit log (who did what, under which grant) and the outbox of domain
//! events for integrations.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{EntryId, RemoteSupportId, TokenId, UserId};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub id: EntryId,
    pub at: Timestamp,
    /// None for the operator.
    pub actor: Option<UserId>,
    pub action: String,
    pub target: Option<String>,
    /// Set when the actor acted under a remote-support grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<RemoteSupportId>,
    /// The credential that acted (for the operator, which of its tokens, over rotations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<TokenId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub id: EntryId,
    pub at: Timestamp,
    /// e.g. `invitation.created`, `link.status_changed`.
    pub kind: String,
    pub data: serde_json::Value,
}
