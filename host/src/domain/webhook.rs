//! Webhook endpoints: where an organization's outbox events are delivered, and the log of each
//! delivery attempt.
//!
//! An endpoint delivers its organization's events in order, one at a time: the next is sent
//! only once the receiver acknowledged (2xx) the last, so a receiver sees them in the order
//! they happened, at least once each (`webhook-id` is the event's id, the same on every retry,
//! for the receiver to drop duplicates).

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{DeliveryId, EntryId, OrgId, UserId, WebhookId};

/// Every event type an organization's outbox carries, which a filter may name.
pub const EVENT_TYPES: [&str; 19] = [
    "invitation.accepted",
    "invitation.created",
    "invitation.declined",
    "invitation.revoked",
    "link.status_changed",
    "member.removed",
    "member.role_changed",
    "member.updated",
    "org.created",
    "org.deleted",
    "org.provider_changed",
    "org.status_changed",
    "org.updated",
    "plan.changed",
    "remote_support.changed",
    "share.changed",
    "webhook.disabled",
    "webhook.enabled",
    "webhook.created",
];

/// Seconds to wait after the n-th failed attempt at one event (Standard Webhooks' schedule):
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the last attempt comes about 27.6 h after the
/// first, and an endpoint still failing then is disabled.
pub const RETRY_AFTER_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    Enabled,
    /// Stopped after failing every attempt of the retry schedule; an admin enables it again.
    Disabled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    /// The event types delivered; empty: every type.
    pub event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub status: WebhookStatus,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    /// The signing secret, sealed under the server key (it must be read back to sign). Never
    /// in an answer: see [`WebhookView`].
    pub sealed_secret: Vec<u8>,
    /// The last event delivered (or passed over by the filter); the next is after it.
    pub cursor: Option<u128>,
    /// Failed attempts at the event after the cursor.
    pub failed_attempts: u32,
    /// When the next attempt may be made.
    pub next_attempt_at: Timestamp,
    /// When the current run of failures began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
}

/// An endpoint as the API shows it: no secret.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WebhookView {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub status: WebhookStatus,
    pub created_at: Timestamp,
    /// Failed attempts at the oldest event not yet delivered.
    pub failed_attempts: u32,
    pub next_attempt_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
}

impl Webhook {
    pub fn view(&self) -> WebhookView {
        WebhookView {
            id: self.id,
            org_id: self.org_id,
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            description: self.description.clone(),
            status: self.status,
            created_at: self.created_at,
            failed_attempts: self.failed_attempts,
            next_attempt_at: self.next_attempt_at,
            failing_since: self.failing_since,
            disabled_at: self.disabled_at,
        }
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == kind)
    }

    /// After a failed attempt at `now`: when to try again, or `None` when the schedule is
    /// spent and the endpoint is to be disabled.
    pub fn retry_at(&self, now: Timestamp) -> Option<Timestamp> {
        let index = usize::try_from(self.failed_attempts.saturating_sub(1)).ok()?;
        let wait = RETRY_AFTER_SECS.get(index)?;
        Some(now.plus(std::time::Duration::from_secs(*wait)))
    }
}

/// One attempt to deliver one event to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EntryId,
    pub event_type: String,
    pub at: Timestamp,
    /// 1 for the first attempt at this event, counting retries; manual redeliveries say 0.
    pub attempt: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it failed, when it did not get a 2xx (connection refused, timed out, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_spans_more_than_a_day_then_ends() {
        let total: u64 = RETRY_AFTER_SECS.iter().sum();
        assert!(total > 24 * 3600, "{total}");
        let mut hook = Webhook {
            id: WebhookId::new(),
            org_id: OrgId::new(),
            url: "https://example.com/hook".into(),
            event_types: vec![],
            description: None,
            status: WebhookStatus::Enabled,
            created_at: Timestamp(0),
            created_by: None,
            sealed_secret: vec![],
            cursor: None,
            failed_attempts: 1,
            next_attempt_at: Timestamp(0),
            failing_since: None,
            disabled_at: None,
        };
        assert_eq!(hook.retry_at(Timestamp(0)), Some(Timestamp(5_000)));
        hook.failed_attempts = 7;
        assert_eq!(hook.retry_at(Timestamp(0)), Some(Timestamp(36_000_000)));
        hook.failed_attempts = 8;
        assert_eq!(hook.retry_at(Timestamp(0)), None);
    }
}
