//! Teams and support channels: the resources an organization can share over a link.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{OrgId, ResourceId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Team,
    Channel,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Channel => "channel",
        }
    }
}

/// What a support channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Chat,
    Voice,
    Video,
    Email,
    Sms,
    Ticket,
}

pub const CHANNEL_KINDS: &str = "chat, voice, video, email, sms, ticket";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resource {
    pub id: ResourceId,
    pub org_id: OrgId,
    pub kind: ResourceKind,
    pub name: String,
    /// Channels only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_kind: Option<ChannelKind>,
    /// Teams only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_ids: Vec<UserId>,
    pub created_at: Timestamp,
}
