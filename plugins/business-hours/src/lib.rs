//! `business-hours`: remote support is granted automatically only on weekdays between 09:00
//! and 18:00 in the configured time zone (judged by the request time in the input), and
//! otherwise requires the customer's approval.
//!
//! Config: `{"time_zone": "Europe/Berlin"}` (an IANA name; an unknown one is refused when the
//! plugin is bound).

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};
use tenantry_sdk::{Hook, Policy, RemoteSupportInput, Verdict, deny, grant, require_approval};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(deserialize_with = "zone")]
    time_zone: Option<Tz>,
}

fn zone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    let name = String::deserialize(d)?;
    name.parse::<Tz>()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{name}` is not an IANA time zone")))
}

pub struct BusinessHours;

impl Policy for BusinessHours {
    type Config = Config;
    const HOOKS: &'static [Hook] = &[Hook::RemoteSupport];

    fn remote_support(input: &RemoteSupportInput, config: &Config) -> Verdict {
        let Some(zone) = config.time_zone else {
            return deny("business-hours needs {\"time_zone\": \"Area/City\"}");
        };
        let Ok(now) = DateTime::parse_from_rfc3339(&input.now) else {
            return deny("business-hours got a request time it cannot read");
        };
        let local = now.with_timezone(&zone);
        let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday && (9..18).contains(&local.hour()) {
            grant(
                input.request.minutes,
                format!("within business hours ({zone})"),
            )
        } else {
            require_approval(format!(
                "outside business hours ({zone}): the customer approves"
            ))
        }
    }
}

tenantry_sdk::plugin!(BusinessHours);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(now: &str) -> RemoteSupportInput {
        RemoteSupportInput {
            now: now.into(),
            ..RemoteSupportInput::example()
        }
    }

    fn berlin() -> Config {
        tenantry_sdk::parse_config(r#"{"time_zone": "Europe/Berlin"}"#).unwrap()
    }

    #[test]
    fn weekdays_nine_to_six_in_the_configured_zone() {
        // Monday 2026-11-23, 08:30 UTC = 09:30 in Berlin (CET, UTC+1).
        assert_eq!(
            BusinessHours::remote_support(&request("2026-11-23T08:30:00Z"), &berlin()),
            grant(60, "within business hours (Europe/Berlin)")
        );
        // 07:30 UTC = 08:30 in Berlin: too early.
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-23T07:30:00Z"), &berlin()),
            Verdict::RequireApproval(_)
        ));
        // 17:30 UTC = 18:30 in Berlin: too late.
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-23T17:30:00Z"), &berlin()),
            Verdict::RequireApproval(_)
        ));
        // Saturday.
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-28T10:00:00Z"), &berlin()),
            Verdict::RequireApproval(_)
        ));
        // Summer time: 2026-07-06 07:30 UTC = 09:30 in Berlin (CEST, UTC+2).
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-07-06T07:30:00Z"), &berlin()),
            Verdict::Grant(_)
        ));
    }

    #[test]
    fn an_unknown_zone_is_refused_when_bound() {
        let err =
            tenantry_sdk::parse_config::<Config>(r#"{"time_zone": "Mars/Base"}"#).unwrap_err();
        assert!(err.contains("Mars/Base"), "{err}");
    }
}
