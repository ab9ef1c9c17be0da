//! Links between two organizations and their life cycle.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{LinkId, OrgId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Pending,
    Active,
    Declined,
    Cancelled,
    Expired,
    Unlinked,
}

impl LinkStatus {
    /// Pending and active links are live: at most one per pair of organizations.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Active)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Unlinked => "unlinked",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkChange {
    pub status: LinkStatus,
    pub at: Timestamp,
    /// None when the server made the change (expiry, organization deleted).
    pub by: Option<UserId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub id: LinkId,
    pub from_org: OrgId,
    pub to_org: OrgId,
    pub status: LinkStatus,
    pub created_at: Timestamp,
    /// When a pending link expires; reset by a resend.
    pub expires_at: Timestamp,
    pub history: Vec<LinkChange>,
}

impl Link {
    /// The status as of `now`: a pending link past its deadline is expired even before the
    /// sweeper has written that down.
    /// When the link changes state by itself: a pending link expires.
    pub fn deadline(&self) -> Option<Timestamp> {
        (self.status == LinkStatus::Pending).then_some(self.expires_at)
    }

    pub fn status_at(&self, now: Timestamp) -> LinkStatus {
        if self.status == LinkStatus::Pending && now >= self.expires_at {
            LinkStatus::Expired
        } else {
            self.status
        }
    }

    pub fn peer_of(&self, org: OrgId) -> OrgId {
        if self.from_org == org {
            self.to_org
        } else {
            self.from_org
        }
    }

    pub fn involves(&self, org: OrgId) -> bool {
        self.from_org == org || self.to_org == org
    }

    pub fn change(&mut self, status: LinkStatus, at: Timestamp, by: Option<UserId>) {
        self.status = status;
        self.history.push(LinkChange { status, at, by });
    }
}

/// The key of the one-live-link-per-pair index: the same whichever side invited.
pub fn pair_key(a: OrgId, b: OrgId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}
