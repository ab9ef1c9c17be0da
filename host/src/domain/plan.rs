//! Subscription templates: the limits an organization runs under.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{OrgId, PlanId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_members: u32,
    pub max_teams: u32,
    pub max_active_links: u32,
    pub max_remote_support_minutes: u32,
}

impl Default for Limits {
    /// What an organization without a plan gets.
    fn default() -> Self {
        Self {
            max_members: 50_000,
            max_teams: 1_000,
            max_active_links: 10,
            max_remote_support_minutes: 480,
        }
    }
}

impl Limits {
    /// Does every limit of `self` stay within `other`?
    pub fn within(&self, other: &Limits) -> bool {
        self.max_members <= other.max_members
            && self.max_teams <= other.max_teams
            && self.max_active_links <= other.max_active_links
            && self.max_remote_support_minutes <= other.max_remote_support_minutes
    }
}

/// What a provider may sell its customers: what its own plan gives it (the defaults and no
/// features without a plan). A provider never sells more than it was sold.
#[derive(Debug, Clone)]
pub struct Entitlement {
    pub limits: Limits,
    pub features: Vec<String>,
}

impl Entitlement {
    /// Why a plan of `limits` and `features` gives more than this, if it does.
    pub fn excess(&self, limits: &Limits, features: &[String]) -> Option<String> {
        if !limits.within(&self.limits) {
            return Some("its limits are above the provider's own plan".into());
        }
        let extra: Vec<&str> = features
            .iter()
            .filter(|f| !self.features.contains(f))
            .map(String::as_str)
            .collect();
        (!extra.is_empty()).then(|| {
            format!(
                "the provider's own plan does not have the feature(s) `{}`",
                extra.join("`, `")
            )
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    /// The provider that made it for its customers; None for a platform plan.
    pub owner_org_id: Option<OrgId>,
    pub limits: Limits,
    #[serde(default)]
    pub features: Vec<String>,
    pub created_at: Timestamp,
    /// A retired plan stays on the organizations that have it but is assigned no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
}
