//! Webhook endpoints of an organization: created by its owners and admins (`webhook.manage`),
//! listed with their delivery state (`webhook.read`), deleted, enabled again after they were
//! disabled, and their delivery log, with a manual redelivery of any event still in the outbox.
//! Delivery itself is `webhook_delivery.rs`.
//!
//! The signing secret is shown once, in the creation's answer; the server keeps it sealed
//! under its key (it must read it back to sign), never in clear and never in an answer. An
//! endpoint starts after the newest event of its organization: it receives what happens from
//! its creation on, beginning with its own `webhook.created`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::App;
use super::actor::Actor;
use super::journal::{audit, emit};
use super::quotas::Quotas;
use crate::domain::ids::{EntryId, OrgId, WebhookId};
use crate::domain::webhook::{Delivery, EVENT_TYPES, Webhook, WebhookStatus, WebhookView};
use crate::error::{Error, Result};
use crate::storage::View;
use crate::webhooks::{destination, signature};

/// The longest description taken.
const MAX_DESCRIPTION: usize = 200;
/// Delivery attempts kept per endpoint, newest first.
pub const KEPT_DELIVERIES: usize = 100;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"url": "https://hooks.acme.example/tenantry", "event_types": ["link.status_changed"], "description": "CRM sync"}))]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub url: String,
    /// Empty or absent: every event type.
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A new endpoint and its secret, shown this once.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: what the receiver verifies signatures with (Standard Webhooks).
    pub secret: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::field("webhook is invalid", field, reason)
}

/// The event types asked for, checked against those the outbox carries.
fn check_event_types(types: &[String]) -> Result<Vec<String>> {
    let mut checked: Vec<String> = Vec::with_capacity(types.len());
    for (i, kind) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&kind.as_str()) {
            return Err(invalid(
                &format!("event_types[{i}]"),
                format!("`{kind}` is not one of: {}", EVENT_TYPES.join(", ")),
            ));
        }
        if !checked.contains(kind) {
            checked.push(kind.clone());
        }
    }
    Ok(checked)
}

/// What the secret of `id` is sealed with: bound to the endpoint, so a sealed secret copied to
/// another endpoint does not open.
pub(super) fn secret_context(id: WebhookId) -> Vec<u8> {
    format!("webhook-secret:{id}").into_bytes()
}

/// The endpoint `id` of `org`, or 404.
pub(super) fn webhook_of(view: &View<'_>, org: OrgId, id: WebhookId) -> Result<Webhook> {
    view.webhook(id)?
        .filter(|w| w.org_id == org)
        .ok_or(Error::NotFound("webhook"))
}

impl App {
    pub async fn create_webhook(
        &self,
        actor: Actor,
        org: OrgId,
        new: NewWebhook,
    ) -> Result<CreatedWebhook> {
        let allowed = self.settings.webhooks.allowed();
        let url = destination::check_url(new.url.trim(), allowed).map_err(|e| invalid("url", e))?;
        let event_types = check_event_types(&new.event_types)?;
        let description = new
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(invalid(
                "description",
                format!("at most {MAX_DESCRIPTION} characters"),
            ));
        }
        // Authorized before the name is resolved: a caller who may not create webhooks does
        // not get the server to look names up for it.
        let resource = json!({"url": url.as_str()});
        self.store.read(|view| {
            self.access(view, actor, org, "webhook.manage", resource.clone())
                .map(|_| ())
        })?;
        destination::check_resolves(&url, allowed)
            .await
            .map_err(|e| invalid("url", e))?;
        let id = WebhookId::new();
        let secret = signature::new_secret().map_err(Error::Setup)?;
        let sealed_secret = self
            .server_key
            .seal(&secret_context(id), secret.as_bytes())?;
        let app = self.clone();
        let webhook = self
            .write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let access = app.access(&view, actor, org, "webhook.manage", resource.clone())?;
                Quotas::check(
                    "webhooks_per_org",
                    view.webhooks_of(org)?.len(),
                    1,
                    app.settings.quotas.webhooks_per_org,
                    "delete an endpoint that is no longer used",
                )?;
                let newest = view.newest_event(org)?;
                let webhook = Webhook {
                    id,
                    org_id: org,
                    url: url.to_string(),
                    event_types: event_types.clone(),
                    description: description.clone(),
                    status: WebhookStatus::Enabled,
                    created_at: now,
                    created_by: actor.user_id,
                    sealed_secret: sealed_secret.clone(),
                    cursor: newest,
                    failed_attempts: 0,
                    next_attempt_at: now,
                    failing_since: None,
                    disabled_at: None,
                };
                tx.insert_webhook(&webhook)?;
                audit(tx, &access, "webhook.create", Some(id.to_string()), now)?;
                emit(
                    tx,
                    org,
                    "webhook.created",
                    json!({"webhook_id": id, "url": destination::shown(&webhook.url)}),
                    now,
                )?;
                Ok(webhook)
            })
            .await?;
        Ok(CreatedWebhook {
            webhook: webhook.view(),
            secret,
        })
    }

    pub fn list_webhooks(&self, actor: Actor, org: OrgId) -> Result<Vec<WebhookView>> {
        self.store.read(|view| {
            self.access(view, actor, org, "webhook.read", Value::Null)?;
            let mut hooks = Vec::new();
            for id in view.webhooks_of(org)? {
                if let Some(hook) = view.webhook(id)? {
                    hooks.push(hook.view());
                }
            }
            Ok(hooks)
        })
    }

    pub fn get_webhook(&self, actor: Actor, org: OrgId, id: WebhookId) -> Result<WebhookView> {
        self.read_small(move |app, view| {
            app.access(view, actor, org, "webhook.read", Value::Null)?;
            Ok(webhook_of(view, org, id)?.view())
        })
    }

    /// The caller's right to manage endpoint `id` of `org`, and the endpoint.
    fn manage(
        &self,
        view: &View<'_>,
        actor: Actor,
        org: OrgId,
        id: WebhookId,
    ) -> Result<(super::access::Access, Webhook)> {
        let access = self.access(
            view,
            actor,
            org,
            "webhook.manage",
            json!({"webhook_id": id}),
        )?;
        Ok((access, webhook_of(view, org, id)?))
    }

    pub async fn delete_webhook(&self, actor: Actor, org: OrgId, id: WebhookId) -> Result<()> {
        let app = self.clone();
        self.write(move |tx| {
            let now = app.clock.now();
            let (access, hook) = app.manage(&tx.view(), actor, org, id)?;
            tx.delete_webhook(&hook)?;
            audit(tx, &access, "webhook.delete", Some(id.to_string()), now)
        })
        .await
    }

    /// Enables a disabled endpoint: delivery resumes with the oldest event it has not had.
    pub async fn enable_webhook(
        &self,
        actor: Actor,
        org: OrgId,
        id: WebhookId,
    ) -> Result<WebhookView> {
        let app = self.clone();
        self.write(move |tx| {
            let now = app.clock.now();
            let (access, mut hook) = app.manage(&tx.view(), actor, org, id)?;
            if hook.status == WebhookStatus::Enabled {
                return Ok(hook.view());
            }
            hook.status = WebhookStatus::Enabled;
            hook.failed_attempts = 0;
            hook.failing_since = None;
            hook.disabled_at = None;
            hook.next_attempt_at = now;
            tx.put_webhook(&hook)?;
            audit(tx, &access, "webhook.enable", Some(id.to_string()), now)?;
            emit(tx, org, "webhook.enabled", json!({"webhook_id": id}), now)?;
            Ok(hook.view())
        })
        .await
    }

    /// The endpoint's newest delivery attempts, newest first.
    pub fn webhook_deliveries(
        &self,
        actor: Actor,
        org: OrgId,
        id: WebhookId,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        self.store.read(|view| {
            self.access(view, actor, org, "webhook.read", Value::Null)?;
            webhook_of(view, org, id)?;
            Ok(view.deliveries(id, limit)?)
        })
    }

    /// Sends one event of the outbox to the endpoint again, now, whatever its place in the
    /// queue; the attempt is logged (attempt 0) and answered. The endpoint's own order and
    /// retries are not changed.
    pub async fn redeliver(
        &self,
        actor: Actor,
        org: OrgId,
        id: WebhookId,
        event: EntryId,
    ) -> Result<Delivery> {
        let resource = json!({"webhook_id": id, "event_id": event});
        let (hook, event) = self.store.read(|view| {
            self.access(view, actor, org, "webhook.manage", resource.clone())?;
            let hook = webhook_of(view, org, id)?;
            let event = view.event(org, event)?.ok_or(Error::NotFound("event"))?;
            Ok((hook, event))
        })?;
        // Audited before it is sent: a request made is on the record even if what follows
        // fails.
        let app = self.clone();
        let event_id = event.id;
        self.write(move |tx| {
            let (access, _) = app.manage(&tx.view(), actor, org, id)?;
            audit(
                tx,
                &access,
                "webhook.redeliver",
                Some(event_id.to_string()),
                app.clock.now(),
            )
        })
        .await?;
        let delivery = self.send_event(&hook, &event, 0).await;
        let logged = delivery.clone();
        self.store
            .write(move |tx| {
                if tx.view().webhook(id)?.is_some() {
                    tx.log_delivery(id, &logged, KEPT_DELIVERIES)?;
                }
                Ok(())
            })
            .await?;
        Ok(delivery)
    }
}
