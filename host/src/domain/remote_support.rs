//! Remote support: a provider's time-bound access to a customer organization.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{OrgId, RemoteSupportId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Pending,
    Granted,
    Denied,
    Expired,
    Revoked,
    Ended,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SupportEvent {
    /// `requested`, `approved`, `denied`, `activated`, `expired`, `revoked`, `ended`.
    pub event: String,
    pub at: Timestamp,
    pub by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemoteSupport {
    pub id: RemoteSupportId,
    pub org_id: OrgId,
    pub provider_id: OrgId,
    pub requester_id: UserId,
    pub reason: String,
    pub scope: Scope,
    pub minutes_requested: u32,
    /// Set when granted: the minimum of request, policy and plan.
    pub minutes_granted: Option<u32>,
    pub status: SupportStatus,
    pub created_at: Timestamp,
    /// Deadline of a pending request.
    pub decide_by: Timestamp,
    pub granted_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub timeline: Vec<SupportEvent>,
}

impl RemoteSupport {
    /// The status as of `now`: deadlines count even before the sweeper writes them down.
    /// When the request changes state by itself: a pending one expires undecided, a grant
    /// ends.
    pub fn deadline(&self) -> Option<Timestamp> {
        match self.status {
            SupportStatus::Pending => Some(self.decide_by),
            SupportStatus::Granted => self.ends_at,
            _ => None,
        }
    }

    pub fn status_at(&self, now: Timestamp) -> SupportStatus {
        match self.status {
            SupportStatus::Pending if now >= self.decide_by => SupportStatus::Expired,
            SupportStatus::Granted if self.ends_at.is_some_and(|end| now >= end) => {
                SupportStatus::Expired
            }
            other => other,
        }
    }

    pub fn record(
        &mut self,
        event: &str,
        at: Timestamp,
        by: Option<UserId>,
        reason: Option<String>,
    ) {
        self.timeline.push(SupportEvent {
            event: event.to_owned(),
            at,
            by,
            reason,
        });
    }
}
