//! `business-hours`: remote support is granted automatically only on weekdays between 09:00
//! and 18:00 in the configured time zone (judged by the request time in the input), and
//! otherwise requires the customer's approval.
//!
//! Config: `{"time_zone": "Europe/Berlin"}` (an IANA name).

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use tenantry_sdk::{Hook, Policy, RemoteSupportInput, Verdict, deny, grant, require_approval};

#[derive(Deserialize)]
struct Config {
    time_zone: String,
}

pub struct BusinessHours;

impl Policy for BusinessHours {
    const HOOKS: &'static [Hook] = &[Hook::RemoteSupport];

    fn remote_support(input: &RemoteSupportInput, config: &str) -> Verdict {
        let Some(zone) = serde_json::from_str::<Config>(config)
            .ok()
            .and_then(|c| c.time_zone.parse::<Tz>().ok())
        else {
            return deny(
                "business-hours is misconfigured: expected {\"time_zone\": \"Area/City\"}",
            );
        };
        let Ok(now) = DateTime::parse_from_rfc3339(&input.now) else {
            return deny("business-hours got a request time it cannot read");
        };
        let local = now.with_timezone(&zone);
        let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        if weekday && (9..18).contains(&local.hour()) {
            grant(input.minutes, format!("within business hours ({zone})"))
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
    use tenantry_sdk::Org;

    use super::*;

    fn request(now: &str) -> RemoteSupportInput {
        RemoteSupportInput {
            org: Org {
                id: "o".into(),
                tenant_id: "t".into(),
                name: "n".into(),
                status: "active".into(),
                account_type: "business_user".into(),
                hierarchy: "node".into(),
                managed_by: "customer".into(),
                remote_support_requires_approval: true,
                service_provider_id: Some("sp".into()),
                region: "eu-central".into(),
            },
            requester_id: "u".into(),
            requester_provider_id: "sp".into(),
            reason: "ticket".into(),
            minutes: 30,
            scope: "read".into(),
            plan_max_minutes: 480,
            now: now.into(),
        }
    }

    const BERLIN: &str = r#"{"time_zone": "Europe/Berlin"}"#;

    #[test]
    fn weekdays_nine_to_six_in_the_configured_zone() {
        // Monday 2026-11-23, 08:30 UTC = 09:30 in Berlin (CET, UTC+1).
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-23T08:30:00Z"), BERLIN),
            Verdict::Grant(_)
        ));
        // 07:30 UTC = 08:30 in Berlin: too early.
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-23T07:30:00Z"), BERLIN),
            Verdict::RequireApproval(_)
        ));
        // 17:30 UTC = 18:30 in Berlin: too late.
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-23T17:30:00Z"), BERLIN),
            Verdict::RequireApproval(_)
        ));
        // Saturday.
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-11-28T10:00:00Z"), BERLIN),
            Verdict::RequireApproval(_)
        ));
        // Summer time: 2026-07-06 07:30 UTC = 09:30 in Berlin (CEST, UTC+2).
        assert!(matches!(
            BusinessHours::remote_support(&request("2026-07-06T07:30:00Z"), BERLIN),
            Verdict::Grant(_)
        ));
    }

    #[test]
    fn a_bad_config_fails_closed() {
        assert!(matches!(
            BusinessHours::remote_support(
                &request("2026-11-23T08:30:00Z"),
                r#"{"time_zone": "Mars/Base"}"#
            ),
            Verdict::Deny(_)
        ));
    }
}
