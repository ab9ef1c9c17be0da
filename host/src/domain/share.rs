//! A team or channel of one organization shared with the other side of an active link.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{LinkId, OrgId, ResourceId, ShareId};
use super::resource::ResourceKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareStatus {
    Active,
    Revoked,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Share {
    pub id: ShareId,
    pub link_id: LinkId,
    pub owner_org: OrgId,
    pub peer_org: OrgId,
    pub resource_kind: ResourceKind,
    pub resource_id: ResourceId,
    pub status: ShareStatus,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Why it ended: `revoked`, `link ended`, `resource deleted`.
    pub revoked_reason: Option<String>,
}
