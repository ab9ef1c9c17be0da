//! Quotas: a bound on everything one tenant can make the server keep or compute, so that no
//! tenant (or stolen credential) can grow the database or spend the CPU other tenants need.
//!
//! Plan limits (`max_members`, `max_teams`, `max_active_links`) are the commercial bounds a
//! provider sells; these are the platform's own guard rails behind them, set by the operator
//! under `[quotas]`. Reaching one answers `409` with the quota's name, the count and what to
//! do; work that is merely busy (a tenant's policy job already running) answers `429`.

use serde::{Deserialize, Serialize};

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Plugins an organization (or the operator) has uploaded and not deleted.
    pub plugins_per_org: usize,
    /// Bytes of those plugins' components together.
    pub plugin_bytes_per_org: usize,
    /// Versions kept per binding (layer, owner, hook); the oldest inactive go first.
    pub versions_per_binding: usize,
    /// Fixtures a new version is gated by: its own plus those it inherits.
    pub fixtures_per_version: usize,
    /// CPU time the fixture gate of one upload, one preview or one dry run may use.
    pub policy_job_cpu_ms: u64,
    /// Policy jobs (gates, previews, dry runs, plugin compilations) one organization may run
    /// at once; more are refused with 429 rather than queued.
    pub policy_jobs_per_org: usize,
    /// API tokens a user holds unrevoked.
    pub tokens_per_user: usize,
    /// Outgoing link invitations an organization has pending.
    pub pending_links_per_org: usize,
    /// Remote-support requests a requester has open (pending or granted) at once.
    pub open_requests_per_requester: usize,
    /// Support channels per organization (teams are bounded by the plan's `max_teams`).
    pub channels_per_org: usize,
    /// Plans a service provider may define.
    pub plans_per_provider: usize,
    /// Customer organizations one service provider may create.
    pub customers_per_provider: usize,
    /// Webhook endpoints per organization.
    pub webhooks_per_org: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            plugins_per_org: 20,
            plugin_bytes_per_org: 64 << 20,
            versions_per_binding: 100,
            fixtures_per_version: 200,
            policy_job_cpu_ms: 2_000,
            policy_jobs_per_org: 1,
            tokens_per_user: 100,
            pending_links_per_org: 100,
            open_requests_per_requester: 10,
            channels_per_org: 1_000,
            plans_per_provider: 1_000,
            customers_per_provider: 100_000,
            webhooks_per_org: 10,
        }
    }
}

impl Quotas {
    /// Refuses to go past `max` with `adding` more of what `quota` counts.
    pub fn check(
        quota: &str,
        used: usize,
        adding: usize,
        max: usize,
        remedy: &str,
    ) -> Result<(), Error> {
        if used.saturating_add(adding) <= max {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "quota `{quota}` reached: {used} of {max} in use; {remedy}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_admits_up_to_its_edge_and_names_itself_past_it() {
        assert!(Quotas::check("tokens_per_user", 99, 1, 100, "revoke one").is_ok());
        let Err(Error::Conflict(text)) =
            Quotas::check("tokens_per_user", 100, 1, 100, "revoke one")
        else {
            panic!("expected a conflict");
        };
        assert_eq!(
            text,
            "quota `tokens_per_user` reached: 100 of 100 in use; revoke one"
        );
    }
}
