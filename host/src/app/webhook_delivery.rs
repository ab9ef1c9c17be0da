//! Delivering each organization's outbox to its webhook endpoints: in order, at least once,
//! retried on Standard Webhooks' schedule for about 27 hours, then the endpoint is disabled.
//!
//! A background task looks every `poll_interval_ms` for enabled endpoints that are due and
//! have an event after their cursor, and drains each on a task of its own (at most
//! `concurrency` at once, one per endpoint): it sends the next event the endpoint wants,
//! waits for the answer, and only on a 2xx moves the cursor past it; a failure schedules the
//! next attempt at the same event. The cursor is written after the receiver answered, so a
//! crash in between sends the event again with the same `webhook-id`: receivers drop
//! duplicates by it. Events an endpoint's filter does not want are passed over.
//!
//! A deleted organization's endpoints outlive it until they have delivered its last events
//! (`org.deleted` among them), then go; a disabled one goes at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::App;
use super::journal::emit;
use super::webhooks::{KEPT_DELIVERIES, secret_context};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{DeliveryId, OrgId, WebhookId};
use crate::domain::journal::Event;
use crate::domain::webhook::{Delivery, Webhook, WebhookStatus};
use crate::error::Result;
use crate::webhooks::{destination, signature};

/// Events one drain sends (or passes over) before it lets the others have the slot.
const DRAIN_BATCH: usize = 100;
/// How long one drain keeps its slot before it lets the others have it.
const DRAIN_TIME: Duration = Duration::from_secs(30);
/// Endpoints read per read transaction while looking for due ones.
const SCAN_PAGE: usize = 1_000;

/// What a drain found next for an endpoint.
enum Next {
    /// Nothing to do now (gone, disabled, not due, or caught up).
    Idle,
    /// Only events the filter does not want, up to this one.
    PassOver(u128),
    Send(Box<Webhook>, u128, Box<Event>),
    /// Its organization is gone and nothing is left to deliver: remove it.
    Retire,
}

impl App {
    /// Delivers until the task is dropped.
    pub async fn deliver_webhooks(self) {
        let settings = self.settings.webhooks;
        // One drain per organization at a time: an organization with many endpoints, or slow
        // receivers, holds one slot, not all of them.
        let in_flight: Arc<Mutex<HashSet<OrgId>>> = Arc::default();
        let slots = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
        let mut tick =
            tokio::time::interval(Duration::from_millis(settings.poll_interval_ms.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.delivers() {
                continue;
            }
            if self
                .store
                .write_stats()
                .failing
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                // What is sent now could not be written down, and would be sent again.
                continue;
            }
            let due = match self.due_webhooks() {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "looking for webhook deliveries failed");
                    continue;
                }
            };
            for (id, org) in due {
                let fresh = in_flight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(org);
                if !fresh {
                    continue;
                }
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (app, in_flight) = (self.clone(), Arc::clone(&in_flight));
                tokio::spawn(async move {
                    if let Err(e) = app.drain_webhook(id).await {
                        tracing::warn!(webhook = %id, error = %e, "webhook delivery stopped");
                    }
                    in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&org);
                    drop(slot);
                });
            }
        }
    }

    /// Enabled endpoints due for an attempt that have an event after their cursor (and those
    /// of organizations that are gone), with their organization.
    pub fn due_webhooks(&self) -> Result<Vec<(WebhookId, OrgId)>> {
        let now = self.clock.now();
        let mut due = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.read(|view| {
                let page = view.all_webhooks(after, SCAN_PAGE)?;
                let mut found = Vec::new();
                for hook in &page {
                    let org_gone = view.org(hook.org_id)?.is_none();
                    let pending = hook.status == WebhookStatus::Enabled
                        && hook.next_attempt_at <= now
                        && !view.events_of(hook.org_id, hook.cursor, 1)?.is_empty();
                    if pending || org_gone {
                        found.push((hook.id, hook.org_id));
                    }
                }
                Ok((page.last().map(|hook| hook.id), page.len(), found))
            })?;
            let (last, read, found) = page;
            due.extend(found);
            if read < SCAN_PAGE {
                return Ok(due);
            }
            after = last;
        }
    }

    /// Sends the endpoint's events in order until it is caught up, an attempt fails, or a
    /// batch is done.
    pub async fn drain_webhook(&self, id: WebhookId) -> Result<()> {
        let started = Instant::now();
        for _ in 0..DRAIN_BATCH {
            if started.elapsed() >= DRAIN_TIME {
                return Ok(());
            }
            let now = self.clock.now();
            match self.next_for(id, now)? {
                Next::Idle => return Ok(()),
                Next::PassOver(key) => self.pass_over(id, key).await?,
                Next::Retire => return self.retire(id).await,
                Next::Send(hook, key, event) => {
                    let delivery = self
                        .send_event(&hook, &event, hook.failed_attempts + 1)
                        .await;
                    let delivered = delivery.ok;
                    self.record_attempt(id, key, delivery).await?;
                    if !delivered {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn next_for(&self, id: WebhookId, now: Timestamp) -> Result<Next> {
        self.store.read(|view| {
            let Some(hook) = view.webhook(id)? else {
                return Ok(Next::Idle);
            };
            let org_gone = view.org(hook.org_id)?.is_none();
            let idle = if org_gone { Next::Retire } else { Next::Idle };
            if hook.status != WebhookStatus::Enabled {
                return Ok(idle);
            }
            if hook.next_attempt_at > now {
                return Ok(Next::Idle);
            }
            let mut passed = None;
            for event in view.events_of(hook.org_id, hook.cursor, DRAIN_BATCH)? {
                let key = event.id.key();
                if hook.wants(&event.kind) {
                    return Ok(Next::Send(Box::new(hook), key, Box::new(event)));
                }
                passed = Some(key);
            }
            Ok(passed.map_or(idle, Next::PassOver))
        })
    }

    /// Removes the endpoint of an organization that is gone.
    async fn retire(&self, id: WebhookId) -> Result<()> {
        self.store
            .write(move |tx| {
                if let Some(hook) = tx.view().webhook(id)? {
                    tx.delete_webhook(&hook)?;
                }
                Ok(())
            })
            .await
    }

    /// Moves the cursor past events the endpoint does not want.
    async fn pass_over(&self, id: WebhookId, key: u128) -> Result<()> {
        self.store
            .write(move |tx| {
                let view = tx.view();
                if let Some(mut hook) = view.webhook(id)? {
                    hook.cursor = Some(key.max(hook.cursor.unwrap_or(0)));
                    tx.put_webhook(&hook)?;
                }
                Ok(())
            })
            .await
    }

    /// Writes down how an attempt at the event `key` ended, and what comes next.
    async fn record_attempt(&self, id: WebhookId, key: u128, delivery: Delivery) -> Result<()> {
        let app = self.clone();
        self.store
            .write(move |tx| {
                let view = tx.view();
                let Some(mut hook) = view.webhook(id)? else {
                    return Ok(()); // deleted meanwhile
                };
                let now = app.clock.now();
                tx.log_delivery(id, &delivery, KEPT_DELIVERIES)?;
                if delivery.ok {
                    hook.cursor = Some(key);
                    hook.failed_attempts = 0;
                    hook.failing_since = None;
                    hook.next_attempt_at = now;
                } else {
                    hook.failed_attempts += 1;
                    hook.failing_since.get_or_insert(now);
                    match hook.retry_at(now) {
                        Some(at) => hook.next_attempt_at = at,
                        None => {
                            hook.status = WebhookStatus::Disabled;
                            hook.disabled_at = Some(now);
                            tracing::warn!(webhook = %id, org = %hook.org_id, "webhook endpoint disabled after failing its retry schedule");
                            crate::metrics::record_webhook("disabled");
                            emit(
                                tx,
                                hook.org_id,
                                "webhook.disabled",
                                json!({
                                    "webhook_id": id,
                                    "url": destination::shown(&hook.url),
                                    "failed_attempts": hook.failed_attempts,
                                    "failing_since": hook.failing_since,
                                    "last_error": delivery.error,
                                }),
                                now,
                            )?;
                            app.postbox().webhook_disabled(
                                tx,
                                &hook,
                                delivery.error.as_deref(),
                                now,
                            )?;
                        }
                    }
                }
                tx.put_webhook(&hook)?;
                Ok(())
            })
            .await
    }

    /// One signed POST of `event` to the endpoint; never fails, says how it went.
    pub(super) async fn send_event(&self, hook: &Webhook, event: &Event, attempt: u32) -> Delivery {
        let at = self.clock.now();
        let started = Instant::now();
        let outcome = self.post_signed(hook, event, at).await;
        let (ok, status_code, error) = match outcome {
            Ok(status) if (200..300).contains(&status) => (true, Some(status), None),
            Ok(status) => (false, Some(status), Some(format!("answered {status}"))),
            Err(e) => (false, None, Some(e)),
        };
        crate::metrics::record_webhook(if ok {
            "ok"
        } else if attempt == 0 {
            "failed"
        } else {
            "retrying"
        });
        Delivery {
            id: DeliveryId::new(),
            event_id: event.id,
            event_type: event.kind.clone(),
            at,
            attempt,
            ok,
            status_code,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The HTTP status the endpoint answered, or why there was none.
    async fn post_signed(
        &self,
        hook: &Webhook,
        event: &Event,
        at: Timestamp,
    ) -> std::result::Result<u16, String> {
        // An address given by number never goes through the resolver: checked here, against
        // the settings of now.
        let allowed = self.settings.webhooks.allowed();
        destination::check_url(&hook.url, allowed)?;
        let secret = self
            .server_key
            .open(&secret_context(hook.id), &hook.sealed_secret)
            .and_then(|s| String::from_utf8(s).ok())
            .ok_or("the endpoint's secret does not open under this server's key")?;
        let body = serde_json::to_vec(&json!({
            "type": event.kind,
            "timestamp": event.at,
            "organization_id": hook.org_id,
            "data": event.data,
        }))
        .map_err(|e| e.to_string())?;
        let id = event.id.to_string();
        let timestamp = at.0.div_euclid(1_000);
        let signed = signature::sign(&secret, &id, timestamp, &body)?;
        let response = self
            .webhook_client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e, self.settings.webhooks.timeout_secs))?;
        // The answer's body is not read: only its status counts.
        Ok(response.status().as_u16())
    }
}

/// Why a request got no answer, in words for the delivery log.
fn describe(error: &reqwest::Error, timeout_secs: u64) -> String {
    use std::error::Error as _;
    if error.is_timeout() {
        return format!("no answer within {timeout_secs} s");
    }
    let mut reason = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    if error.is_connect() {
        format!("could not connect: {reason}")
    } else if reason.is_empty() {
        error.to_string()
    } else {
        reason
    }
}
