//! `region-fence`: links only between organizations of allowed region pairs.
//!
//! Config: `{"allowed": [["eu-central", "eu-central"], ["eu-central", "us-east"]]}`; a pair
//! allows both directions.

use serde::Deserialize;
use tenantry_sdk::{Hook, LinkInput, Policy, Verdict, allow, deny};

#[derive(Deserialize)]
struct Config {
    allowed: Vec<(String, String)>,
}

pub struct RegionFence;

impl Policy for RegionFence {
    const HOOKS: &'static [Hook] = &[Hook::Link];

    fn link(input: &LinkInput, config: &str) -> Verdict {
        let Ok(config) = serde_json::from_str::<Config>(config) else {
            return deny(
                "region-fence is misconfigured: expected {\"allowed\": [[region, region], ...]}",
            );
        };
        let (a, b) = (input.from.region.as_str(), input.to.region.as_str());
        let allowed = config
            .allowed
            .iter()
            .any(|(x, y)| (x == a && y == b) || (x == b && y == a));
        if allowed {
            allow(format!("regions `{a}` and `{b}` may link"))
        } else {
            deny(format!(
                "links between regions `{a}` and `{b}` are not allowed"
            ))
        }
    }
}

tenantry_sdk::plugin!(RegionFence);

#[cfg(test)]
mod tests {
    use tenantry_sdk::Org;

    use super::*;

    fn org(region: &str) -> Org {
        Org {
            id: "o".into(),
            tenant_id: "t".into(),
            name: "n".into(),
            status: "active".into(),
            account_type: "business_user".into(),
            hierarchy: "node".into(),
            managed_by: "customer".into(),
            remote_support_requires_approval: true,
            service_provider_id: None,
            region: region.into(),
        }
    }

    fn link(from: &str, to: &str) -> LinkInput {
        LinkInput {
            action: "invite".into(),
            from: org(from),
            to: org(to),
            from_active_links: 0,
            to_active_links: 0,
            from_max_active_links: 10,
            to_max_active_links: 10,
            now: "2026-11-23T10:00:00Z".into(),
        }
    }

    const CONFIG: &str =
        r#"{"allowed": [["eu-central", "eu-central"], ["eu-central", "us-east"]]}"#;

    #[test]
    fn allowed_pairs_in_either_direction() {
        assert!(matches!(
            RegionFence::link(&link("eu-central", "us-east"), CONFIG),
            Verdict::Allow(_)
        ));
        assert!(matches!(
            RegionFence::link(&link("us-east", "eu-central"), CONFIG),
            Verdict::Allow(_)
        ));
        assert!(matches!(
            RegionFence::link(&link("us-east", "us-east"), CONFIG),
            Verdict::Deny(_)
        ));
    }

    #[test]
    fn a_bad_config_fails_closed() {
        assert!(matches!(
            RegionFence::link(&link("eu-central", "eu-central"), "{}"),
            Verdict::Deny(_)
        ));
    }
}
