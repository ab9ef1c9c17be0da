//! `share-allowlist`: only teams and channels whose name carries a configured tag may be
//! shared.
//!
//! Config: `{"tag": "#shared"}` (not empty).

use serde::Deserialize;
use tenantry_sdk::{Hook, Policy, ShareInput, Verdict, allow, deny};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    tag: String,
}

pub struct ShareAllowlist;

impl Policy for ShareAllowlist {
    type Config = Config;
    const HOOKS: &'static [Hook] = &[Hook::Share];

    fn share(input: &ShareInput, config: &Config) -> Verdict {
        let name = &input.resource.name;
        if !config.tag.is_empty() && name.contains(&config.tag) {
            allow(format!("`{name}` carries `{}`", config.tag))
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
    use tenantry_sdk::SharedResource;

    use super::*;

    fn share(name: &str) -> ShareInput {
        let mut input = ShareInput::example();
        input.resource = SharedResource {
            name: name.into(),
            ..input.resource
        };
        input
    }

    #[test]
    fn only_tagged_resources() {
        let config: Config = tenantry_sdk::parse_config(r##"{"tag": "#shared"}"##).unwrap();
        assert!(matches!(
            ShareAllowlist::share(&share("Tier 2 #shared"), &config),
            Verdict::Allow(_)
        ));
        assert!(matches!(
            ShareAllowlist::share(&share("Tier 2"), &config),
            Verdict::Deny(_)
        ));
        assert!(tenantry_sdk::parse_config::<Config>("nope").is_err());
        // An empty tag would allow everything: it allows nothing.
        assert!(matches!(
            ShareAllowlist::share(&share("Tier 2"), &Config::default()),
            Verdict::Deny(_)
        ));
    }
}
