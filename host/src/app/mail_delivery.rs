//! Sending queued e-mail: a background task looks every `[smtp] poll_interval_ms` for e-mail
//! that is due, renders it with its provider's template (the default when the provider has
//! none, or when its template fails now), and hands it to the SMTP server. Sent e-mail leaves
//! the queue; a temporary failure is tried again on [`RETRY_AFTER_SECS`]'s schedule; a
//! permanent refusal or the end of the schedule drops it with a warning and a metric. E-mail
//! to an organization's members is first turned into one e-mail per address, found then. At
//! most ten e-mails about one organization go out per look, so one tenant's thousands wait
//! behind no one else's.
//!
//! At least once: the queue entry is removed after the server accepted the message, so a
//! crash in between sends it again.
//!
//! [`RETRY_AFTER_SECS`]: crate::domain::mail::RETRY_AFTER_SECS

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::App;
use super::mail::{addresses, seal, template_for};
use crate::domain::ids::OrgId;
use crate::domain::mail::{MailContent, QueuedMail, Recipient, sealed_context};
use crate::error::Result;
use crate::mail::templates::{self, Rendered, Values};
use crate::mail::transport::{Mailer, SendError};

/// E-mail sent per look, so a long queue does not hold one look for long.
const BATCH: usize = 50;
/// Due e-mails read per read transaction while looking for what to send.
const SCAN_PAGE: usize = 1_000;
/// E-mail about one organization sent per look: one that queued thousands (a large import)
/// does not hold up the others' for long.
const PER_ORG: usize = 10;

impl App {
    /// Sends until the task is dropped.
    pub async fn deliver_mail(self, mailer: Mailer) {
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.settings.smtp.poll_interval_ms.max(10),
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.delivers() {
                continue;
            }
            if self.store.write_stats().failing.load(Ordering::Relaxed) {
                // What is sent now could not be written down, and would be sent again.
                continue;
            }
            let due = match self.due_mail() {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "looking for e-mail to send failed");
                    continue;
                }
            };
            for mail in due {
                let done = match mail.to {
                    Recipient::Address(_) => self.send_mail(&mailer, mail).await,
                    Recipient::Members { .. } => self.fan_out(mail).await,
                };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "e-mail delivery stopped");
                    break;
                }
            }
        }
    }

    /// The e-mail due longest, at most [`BATCH`] and [`PER_ORG`] for each organization. It
    /// reads the due index page by page until the batch is full or nothing due is left, so one
    /// organization's thousands due never hide another's (the cost follows what is due, not the
    /// whole queue).
    fn due_mail(&self) -> Result<Vec<QueuedMail>> {
        let now = self.clock.now();
        let mut due = Vec::new();
        let mut per_org: HashMap<OrgId, usize> = HashMap::new();
        let mut after: Option<QueuedMail> = None;
        loop {
            let page = self
                .store
                .read(|view| Ok(view.mail_due(now, after.as_ref(), SCAN_PAGE)?))?;
            let done = page.len() < SCAN_PAGE;
            after = page.last().cloned();
            for mail in page {
                let taken = per_org.entry(mail.org_id).or_default();
                if *taken < PER_ORG {
                    *taken += 1;
                    due.push(mail);
                }
            }
            if done || due.len() >= BATCH {
                due.truncate(BATCH);
                return Ok(due);
            }
        }
    }

    /// What `mail` carries; `None` when it was sealed under another server key (the key file
    /// was replaced): unreadable for good.
    fn content(&self, mail: &QueuedMail) -> Option<MailContent> {
        self.server_key
            .open(&sealed_context(mail.id), &mail.sealed)
            .and_then(|plain| serde_json::from_slice::<MailContent>(&plain).ok())
    }

    /// Replaces an e-mail to an organization's members by one to each of their addresses,
    /// found now, outside the write (one tenant's member count never lengthens the write
    /// transaction every tenant waits for).
    async fn fan_out(&self, mail: QueuedMail) -> Result<()> {
        let Recipient::Members { orgs, roles } = &mail.to else {
            return Ok(());
        };
        let to = self.store.read(|view| addresses(view, orgs, roles))?;
        let content = self.content(&mail);
        let app = self.clone();
        self.write(move |tx| {
            if tx.view().queued_mail(mail.id)?.is_none() {
                return Ok(());
            }
            tx.delete_queued_mail(mail.id)?;
            let Some(content) = &content else {
                tracing::warn!(mail = %mail.id, "e-mail dropped: its content cannot be read");
                return Ok(());
            };
            let now = app.clock.now();
            for address in &to {
                let to = Recipient::Address(address.clone());
                let mut one = QueuedMail::new(mail.kind, mail.org_id, mail.template_owner, to, now);
                one.sealed = seal(&app.server_key, &one, content)?;
                tx.put_queued_mail(&one)?;
            }
            Ok(())
        })
        .await
    }

    /// What `mail` says, written with its provider's template.
    fn compose(&self, mail: &QueuedMail) -> Result<Option<Rendered>> {
        let Some(content) = self.content(mail) else {
            return Ok(None);
        };
        let values: Values = templates::variables(mail.kind)
            .iter()
            .map(|(name, _)| {
                let value = content.values.get(*name).cloned().unwrap_or_default();
                (*name, value)
            })
            .collect();
        let template = self
            .store
            .read(|view| template_for(view, mail.template_owner, mail.kind))?;
        let rendered = templates::render(mail.kind, &template, &values).or_else(|refused| {
            tracing::warn!(
                provider = ?mail.template_owner,
                kind = mail.kind.name(),
                reason = %refused.reason,
                "a provider's e-mail template failed; the default is used"
            );
            templates::render(mail.kind, &templates::default_template(mail.kind), &values)
        });
        Ok(rendered.ok().map(|mut rendered| {
            if !content.appended.is_empty() {
                rendered.body = format!("{}\n\n{}\n", rendered.body.trim_end(), content.appended);
            }
            rendered
        }))
    }

    async fn send_mail(&self, mailer: &Mailer, mail: QueuedMail) -> Result<()> {
        let Recipient::Address(address) = &mail.to else {
            return Ok(());
        };
        let outcome = match self.compose(&mail)? {
            Some(rendered) => mailer.send(address, &rendered).await,
            None => Err(SendError {
                permanent: true,
                message: "its content cannot be read or written".to_owned(),
            }),
        };
        let id = mail.id;
        let app = self.clone();
        let result = self
            .write(move |tx| {
                let Some(mut mail) = tx.view().queued_mail(id)? else {
                    return Ok("gone");
                };
                let now = app.clock.now();
                let error = match &outcome {
                    Ok(()) => {
                        tx.delete_queued_mail(id)?;
                        return Ok("sent");
                    }
                    Err(e) => e,
                };
                mail.attempts += 1;
                mail.last_error = Some(error.message.clone());
                match mail.retry_at(now).filter(|_| !error.permanent) {
                    Some(at) => {
                        mail.next_attempt_at = at;
                        tx.put_queued_mail(&mail)?;
                        Ok("retrying")
                    }
                    None => {
                        tracing::warn!(
                            mail = %id,
                            kind = mail.kind.name(),
                            org = %mail.org_id,
                            attempts = mail.attempts,
                            error = %error.message,
                            "e-mail dropped"
                        );
                        tx.delete_queued_mail(id)?;
                        Ok("dropped")
                    }
                }
            })
            .await?;
        if result != "gone" {
            crate::metrics::record_mail(result);
        }
        Ok(())
    }
}
