//! E-mail the use cases queue, inside the transaction that made it necessary, and the service
//! providers' templates (`/v1/orgs/{org}/mail-templates`).
//!
//! With `[smtp]` configured, an invitation's token goes to the invitee's address only: the
//! use case answers that it was mailed, never the token, so a provider that creates a
//! customer with its owner does not hold the owner's credential. Without `[smtp]`, nothing is
//! queued and the token is answered to the inviter, as before.
//!
//! Templates are rendered when the e-mail is sent, on the delivery task: a provider's
//! template costs its own e-mail's delivery, never the writer every tenant shares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::App;
use super::actor::Actor;
use super::journal::audit;
use super::server_key::ServerKey;
use crate::domain::clock::Timestamp;
use crate::domain::credential::INVITATION_DAYS;
use crate::domain::ids::OrgId;
use crate::domain::mail::{
    AddressBudget, MailContent, QueuedMail, Recipient, StoredTemplate, sealed_context,
};
use crate::domain::member::{MembershipStatus, Role, User};
use crate::domain::org::{Hierarchy, Org};
use crate::domain::plan::Plan;
use crate::domain::remote_support::RemoteSupport;
use crate::domain::secret::Secret;
use crate::domain::webhook::Webhook;
use crate::error::{Error, Result};
use crate::mail::templates::{self, Template};
use crate::mail::{MailKind, MailSettings};
use crate::storage::{Tx, View};
use crate::webhooks::destination;

/// Queues e-mail in a write transaction.
pub struct Postbox<'a> {
    settings: &'a MailSettings,
    key: &'a ServerKey,
}

impl App {
    pub(crate) fn postbox(&self) -> Postbox<'_> {
        Postbox {
            settings: &self.settings.smtp,
            key: &self.server_key,
        }
    }
}

/// `2026-12-02 18:00 UTC`.
fn minute(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match text.get(..16) {
        Some(head) => format!("{} UTC", head.replace('T', " ")),
        None => text,
    }
}

/// Whose templates the e-mail of `org` is written with: its service provider's, or its own
/// when it is one.
fn template_owner(org: &Org) -> Option<OrgId> {
    match org.hierarchy {
        Hierarchy::Supernode => Some(org.id),
        Hierarchy::Node => org.service_provider_id,
    }
}

fn org_name(view: &View<'_>, id: Option<OrgId>) -> Result<String> {
    let Some(id) = id else {
        return Ok(String::new());
    };
    Ok(view.org(id)?.map(|o| o.name).unwrap_or_default())
}

impl Postbox<'_> {
    pub fn enabled(&self) -> bool {
        self.settings.enabled()
    }

    /// Queues an e-mail of `kind` about `org` to `to`.
    fn queue(
        &self,
        tx: &Tx<'_>,
        kind: MailKind,
        org: &Org,
        to: Recipient,
        content: &MailContent,
        now: Timestamp,
    ) -> Result<()> {
        let mut mail = QueuedMail::new(kind, org.id, template_owner(org), to, now);
        mail.sealed = seal(self.key, &mail, content)?;
        Ok(tx.put_queued_mail(&mail)?)
    }

    /// Mails `user` the invitation to `org` and answers `None`; without e-mail, answers the
    /// token for the inviter to hand over.
    pub fn invitation(
        &self,
        tx: &Tx<'_>,
        org: &Org,
        user: &User,
        role: Role,
        token: Secret,
        now: Timestamp,
    ) -> Result<Option<Secret>> {
        let (true, Some(email)) = (self.enabled(), user.email.as_deref()) else {
            return Ok(Some(token));
        };
        let view = tx.view();
        let address = AddressBudget::key_of(email);
        let spent = view.invitation_mail_budget(org.id, address)?;
        let budget =
            AddressBudget::spend(spent, now).map_err(|retry_after| Error::RateLimited {
                what: "the invitation e-mails this organization may send to this address \
                   (5 in 24 hours)",
                retry_after,
            })?;
        tx.put_invitation_mail_budget(org.id, address, &budget)?;
        let expires = now.plus(std::time::Duration::from_secs(INVITATION_DAYS * 24 * 3600));
        let values = BTreeMap::from([
            ("org_name".to_owned(), org.name.clone()),
            ("invitee_name".to_owned(), user.name.clone()),
            ("role".to_owned(), role.as_str().to_owned()),
            (
                "provider_name".to_owned(),
                org_name(&view, org.service_provider_id)?,
            ),
            ("expires_on".to_owned(), minute(expires)),
        ]);
        let appended = format!(
            "{}\nThe invitation expires on {} ({} days after it was sent).",
            self.settings.accept_instructions(token.expose()),
            minute(expires),
            INVITATION_DAYS
        );
        let content = MailContent { values, appended };
        let to = Recipient::Address(email.to_owned());
        self.queue(tx, MailKind::Invitation, org, to, &content, now)?;
        Ok(None)
    }

    /// Tells the service provider's admins and the organization's that `org` is on `plan`.
    pub fn plan_changed(
        &self,
        tx: &Tx<'_>,
        org: &Org,
        old_plan: Option<&Plan>,
        plan: &Plan,
        now: Timestamp,
    ) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let view = tx.view();
        let to = Recipient::Members {
            orgs: std::iter::once(org.id)
                .chain(org.service_provider_id)
                .collect(),
            roles: vec![Role::Owner, Role::Admin],
        };
        let values = BTreeMap::from([
            ("org_name".to_owned(), org.name.clone()),
            (
                "old_plan".to_owned(),
                old_plan.map_or_else(|| "no".to_owned(), |p| p.name.clone()),
            ),
            ("new_plan".to_owned(), plan.name.clone()),
            (
                "provider_name".to_owned(),
                org_name(&view, org.service_provider_id)?,
            ),
        ]);
        let content = MailContent::of(values);
        self.queue(tx, MailKind::PlanChanged, org, to, &content, now)
    }

    /// Asks the organization's owner and admins to approve or deny `request`.
    pub fn remote_support_pending(
        &self,
        tx: &Tx<'_>,
        org: &Org,
        request: &RemoteSupport,
        now: Timestamp,
    ) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let view = tx.view();
        let requester = view
            .user(request.requester_id)?
            .map(|u| u.name)
            .unwrap_or_default();
        let values = BTreeMap::from([
            ("org_name".to_owned(), org.name.clone()),
            (
                "provider_name".to_owned(),
                org_name(&view, Some(request.provider_id))?,
            ),
            ("requester_name".to_owned(), requester),
            ("scope".to_owned(), request.scope.as_str().to_owned()),
            ("minutes".to_owned(), request.minutes_requested.to_string()),
            ("reason".to_owned(), request.reason.clone()),
            ("decide_by".to_owned(), minute(request.decide_by)),
        ]);
        let to = Recipient::Members {
            orgs: vec![org.id],
            roles: vec![Role::Owner, Role::Admin],
        };
        let content = MailContent::of(values);
        self.queue(tx, MailKind::RemoteSupportPending, org, to, &content, now)
    }

    /// Tells the organization's owner that `hook` was disabled.
    pub fn webhook_disabled(
        &self,
        tx: &Tx<'_>,
        hook: &Webhook,
        last_error: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let view = tx.view();
        let Some(org) = view.org(hook.org_id)? else {
            return Ok(());
        };
        let values = BTreeMap::from([
            ("org_name".to_owned(), org.name.clone()),
            ("org_id".to_owned(), org.id.to_string()),
            ("webhook_id".to_owned(), hook.id.to_string()),
            ("url".to_owned(), destination::shown(&hook.url)),
            (
                "failing_since".to_owned(),
                minute(hook.failing_since.unwrap_or(now)),
            ),
            (
                "failed_attempts".to_owned(),
                hook.failed_attempts.to_string(),
            ),
            (
                "last_error".to_owned(),
                last_error.unwrap_or("none recorded").to_owned(),
            ),
        ]);
        let to = Recipient::Members {
            orgs: vec![org.id],
            roles: vec![Role::Owner],
        };
        let content = MailContent::of(values);
        self.queue(tx, MailKind::WebhookDisabled, &org, to, &content, now)
    }
}

/// One kind's template as a provider sees it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TemplateView {
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
    /// False: the default, which the provider has not replaced.
    pub customized: bool,
    /// The values the template may use.
    pub variables: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl TemplateView {
    fn of(kind: MailKind, stored: Option<StoredTemplate>) -> Self {
        let variables = templates::variables(kind).iter().map(|(n, _)| *n).collect();
        match stored {
            Some(t) => Self {
                kind,
                subject: t.subject,
                body: t.body,
                customized: true,
                variables,
                updated_at: Some(t.updated_at),
            },
            None => {
                let t = templates::default_template(kind);
                Self {
                    kind,
                    subject: t.subject,
                    body: t.body,
                    customized: false,
                    variables,
                    updated_at: None,
                }
            }
        }
    }
}

/// A template a provider saves.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"subject": "Welcome to {{ org_name }}", "body": "Hello {{ invitee_name }},\n\nyou are invited to {{ org_name }} as {{ role }}."}))]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub subject: String,
    pub body: String,
}

/// The template e-mail of `kind` for an organization served by `owner` is written with.
pub fn template_for(view: &View<'_>, owner: Option<OrgId>, kind: MailKind) -> Result<Template> {
    let stored = match owner {
        Some(owner) => view.mail_template(owner, kind)?,
        None => None,
    };
    Ok(stored.map_or_else(
        || templates::default_template(kind),
        |t| Template {
            subject: t.subject,
            body: t.body,
        },
    ))
}

/// The addresses of the active members of `orgs` with one of `roles`, each once.
pub fn addresses(view: &View<'_>, orgs: &[OrgId], roles: &[Role]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for org in orgs {
        for membership in view.all_members_of(*org)? {
            if membership.status != MembershipStatus::Active || !roles.contains(&membership.role) {
                continue;
            }
            if let Some(email) = view.user(membership.user_id)?.and_then(|u| u.email)
                && !found.contains(&email)
            {
                found.push(email);
            }
        }
    }
    Ok(found)
}

/// `content` sealed for `mail` (bound to its id).
pub fn seal(key: &ServerKey, mail: &QueuedMail, content: &MailContent) -> Result<Vec<u8>> {
    let plain = serde_json::to_vec(content)
        .map_err(|e| Error::Setup(format!("encoding an e-mail: {e}")))?;
    key.seal(&sealed_context(mail.id), &plain)
}

/// Templates are a service provider's: they write its customers' e-mail.
fn provider_only(org: &Org) -> Result<()> {
    if org.hierarchy == Hierarchy::Supernode {
        Ok(())
    } else {
        Err(Error::Conflict(
            "e-mail templates are a service provider's: its customers' e-mail is written with them"
                .into(),
        ))
    }
}

impl App {
    /// Every kind's template of provider `org`: its own or the default.
    pub fn mail_templates(&self, actor: Actor, org: OrgId) -> Result<Vec<TemplateView>> {
        self.store.read(|view| {
            let access = self.access(view, actor, org, "mail_template.manage", json!({}))?;
            provider_only(&access.org)?;
            MailKind::ALL
                .into_iter()
                .map(|kind| {
                    let stored = view.mail_template(org, kind)?;
                    Ok(TemplateView::of(kind, stored))
                })
                .collect()
        })
    }

    /// Replaces provider `org`'s template for `kind`, once it parses and renders the example
    /// values within its limits.
    pub async fn put_mail_template(
        &self,
        actor: Actor,
        org: OrgId,
        kind: MailKind,
        new: NewTemplate,
    ) -> Result<TemplateView> {
        let resource = json!({"kind": kind});
        self.store.read(|view| {
            let access = self.access(view, actor, org, "mail_template.manage", resource.clone())?;
            provider_only(&access.org)
        })?;
        let template = Template {
            subject: new.subject,
            body: new.body,
        };
        templates::check(kind, &template)
            .map_err(|r| Error::field("e-mail template is invalid", r.field, r.reason))?;
        let app = self.clone();
        self.write(move |tx| {
            let now = app.clock.now();
            let access = app.access(
                &tx.view(),
                actor,
                org,
                "mail_template.manage",
                resource.clone(),
            )?;
            provider_only(&access.org)?;
            let stored = StoredTemplate {
                kind,
                subject: template.subject.clone(),
                body: template.body.clone(),
                updated_at: now,
                updated_by: actor.user_id,
            };
            tx.put_mail_template(org, kind, &stored)?;
            audit(
                tx,
                &access,
                "mail_template.update",
                Some(kind.name().to_owned()),
                now,
            )?;
            Ok(TemplateView::of(kind, Some(stored)))
        })
        .await
    }

    /// Goes back to the default template for `kind`.
    pub async fn delete_mail_template(
        &self,
        actor: Actor,
        org: OrgId,
        kind: MailKind,
    ) -> Result<()> {
        let app = self.clone();
        self.write(move |tx| {
            let now = app.clock.now();
            let access = app.access(
                &tx.view(),
                actor,
                org,
                "mail_template.manage",
                json!({"kind": kind}),
            )?;
            provider_only(&access.org)?;
            tx.delete_mail_template(org, kind)?;
            audit(
                tx,
                &access,
                "mail_template.delete",
                Some(kind.name().to_owned()),
                now,
            )
        })
        .await
    }
}
