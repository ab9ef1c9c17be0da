//! `region-fence`: links only between organizations of allowed region pairs.
//!
//! Config: `{"allowed": [["eu-central", "eu-central"], ["eu-central", "us-east"]]}`; a pair
//! allows both directions. A config without `allowed` is refused when the plugin is bound.

use serde::Deserialize;
use tenantry_sdk::{Hook, LinkInput, Policy, Verdict, allow, deny, log};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    allowed: Vec<(String, String)>,
}

pub struct RegionFence;

impl Policy for RegionFence {
    type Config = Config;
    const HOOKS: &'static [Hook] = &[Hook::Link];

    fn link(input: &LinkInput, config: &Config) -> Verdict {
        let (a, b) = (input.from.region.as_str(), input.to.region.as_str());
        let allowed = config
            .allowed
            .iter()
            .any(|(x, y)| (x == a && y == b) || (x == b && y == a));
        if allowed {
            allow(format!("regions `{a}` and `{b}` may link"))
        } else {
            log::info(format!(
                "{} allowed pair(s), none is ({a}, {b})",
                config.allowed.len()
            ));
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

    fn link(from: &str, to: &str) -> LinkInput {
        LinkInput {
            from: Org {
                region: from.into(),
                ..Org::example()
            },
            to: Org {
                region: to.into(),
                ..Org::named("globex")
            },
            ..LinkInput::example()
        }
    }

    fn config() -> Config {
        tenantry_sdk::parse_config(
            r#"{"allowed": [["eu-central", "eu-central"], ["eu-central", "us-east"]]}"#,
        )
        .unwrap()
    }

    #[test]
    fn allowed_pairs_in_either_direction() {
        assert!(matches!(
            RegionFence::link(&link("eu-central", "us-east"), &config()),
            Verdict::Allow(_)
        ));
        assert!(matches!(
            RegionFence::link(&link("us-east", "eu-central"), &config()),
            Verdict::Allow(_)
        ));
        assert_eq!(
            RegionFence::link(&link("us-east", "us-east"), &config()),
            deny("links between regions `us-east` and `us-east` are not allowed")
        );
        assert_eq!(
            log::take(),
            ["info: 2 allowed pair(s), none is (us-east, us-east)"]
        );
    }

    #[test]
    fn a_config_without_pairs_is_refused_when_bound() {
        assert!(tenantry_sdk::parse_config::<Config>("{}").is_err());
        assert!(tenantry_sdk::parse_config::<Config>(r#"{"allowed": "eu"}"#).is_err());
    }
}
