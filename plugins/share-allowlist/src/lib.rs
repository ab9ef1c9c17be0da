//! `share-allowlist`: only teams and channels whose name carries a configured tag may be
//! shared.
//!
//! Config: `{"tag": "#shared"}`.

use serde::Deserialize;
use tenantry_sdk::{Hook, Policy, ShareInput, Verdict, allow, deny};

#[derive(Deserialize)]
struct Config {
    tag: String,
}

pub struct ShareAllowlist;

impl Policy for ShareAllowlist {
    const HOOKS: &'static [Hook] = &[Hook::Share];

    fn share(input: &ShareInput, config: &str) -> Verdict {
        let Ok(config) = serde_json::from_str::<Config>(config) else {
            return deny("share-allowlist is misconfigured: expected {\"tag\": \"...\"}");
        };
        if !config.tag.is_empty() && input.resource_name.contains(&config.tag) {
            allow(format!(
                "`{}` carries `{}`",
                input.resource_name, config.tag
            ))
        } else {
            deny(format!(
                "only teams and channels tagged `{}` may be shared",
                config.tag
            ))
        }
    }
}

tenantry_sdk::plugin!(ShareAllowlist);

#[cfg(test)]
mod tests {
    use tenantry_sdk::Org;

    use super::*;

    fn org() -> Org {
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
            region: "eu-central".into(),
        }
    }

    fn share(name: &str) -> ShareInput {
        ShareInput {
            org: org(),
            peer: org(),
            link_status: "active".into(),
            resource_kind: "team".into(),
            resource_id: "r".into(),
            resource_name: name.into(),
            resource_org_id: "o".into(),
            now: "2026-11-23T10:00:00Z".into(),
        }
    }

    #[test]
    fn only_tagged_resources() {
        let config = r##"{"tag": "#shared"}"##;
        assert!(matches!(
            ShareAllowlist::share(&share("Tier 2 #shared"), config),
            Verdict::Allow(_)
        ));
        assert!(matches!(
            ShareAllowlist::share(&share("Tier 2"), config),
            Verdict::Deny(_)
        ));
        assert!(matches!(
            ShareAllowlist::share(&share("Tier 2 #shared"), "nope"),
            Verdict::Deny(_)
        ));
    }
}
