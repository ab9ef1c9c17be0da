//! Writing and reading the audit log and the event outbox. Both are written in the same
//! transaction as the change they describe, so neither can miss or invent a change.

use serde_json::{Value, json};

use super::access::Access;
use super::actor::Actor;
use super::{App, Page, PageRequest};
use crate::domain::ids::{EntryId, OrgId, RemoteSupportId};
use crate::domain::journal::{AuditEntry, Event};
use crate::error::Result;
use crate::storage::Tx;

pub fn audit(
    tx: &Tx<'_>,
    access: &Access,
    action: &str,
    target: Option<String>,
    now: crate::domain::clock::Timestamp,
) -> Result<()> {
    let grant_id: Option<RemoteSupportId> = access.via_grant().map(|g| g.id);
    audit_as(
        tx,
        access.org.id,
        access.actor,
        action,
        target,
        grant_id,
        now,
    )
}

pub fn audit_as(
    tx: &Tx<'_>,
    org: OrgId,
    actor: Actor,
    action: &str,
    target: Option<String>,
    grant_id: Option<RemoteSupportId>,
    now: crate::domain::clock::Timestamp,
) -> Result<()> {
    let entry = AuditEntry {
        id: EntryId::new(),
        at: now,
        actor: actor.user_id,
        action: action.to_owned(),
        target,
        grant_id,
        credential: Some(actor.token_id),
    };
    tx.append_audit(org, &entry)?;
    Ok(())
}

pub fn emit(
    tx: &Tx<'_>,
    org: OrgId,
    kind: &str,
    data: Value,
    now: crate::domain::clock::Timestamp,
) -> Result<()> {
    let event = Event {
        id: EntryId::new(),
        at: now,
        kind: kind.to_owned(),
        data,
    };
    tx.append_event(org, &event)?;
    Ok(())
}

impl App {
    /// Reads under a remote-support grant are audited too. They run in read transactions, so
    /// their entries go through the recorder, which writes them moments after the read
    /// (writes under a grant are audited in their own transaction).
    pub(crate) fn audit_grant_read(&self, access: &Access, action: &str) {
        let Some(grant) = access.via_grant() else {
            return;
        };
        let entry = AuditEntry {
            id: EntryId::new(),
            at: self.clock.now(),
            actor: access.actor.user_id,
            action: action.to_owned(),
            target: None,
            grant_id: Some(grant.id),
            credential: Some(access.actor.token_id),
        };
        self.recorder.audit(access.org.id, entry);
    }

    /// Authorizes `action` on `org`'s audit log or events. An organization that was deleted
    /// keeps both; the operator still reads them (through the platform policy, told
    /// `deleted: true`), everyone else gets 404.
    fn journal_access(
        &self,
        view: &crate::storage::View<'_>,
        actor: Actor,
        org: OrgId,
        action: &str,
    ) -> Result<()> {
        if view.org(org)?.is_some() || !actor.is_operator() {
            return self
                .access(view, actor, org, action, Value::Null)
                .map(|_| ());
        }
        let audited = view.audit_of(org, None, 1)?;
        let evented = view.events_of(org, None, 1)?;
        if audited.is_empty() && evented.is_empty() {
            return Err(crate::error::Error::NotFound("organization"));
        }
        self.authorize_global(actor, action, json!({"org_id": org, "deleted": true}))
            .map(|_| ())
    }

    pub fn audit_log(
        &self,
        actor: Actor,
        org: OrgId,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        self.store.read(|view| {
            self.journal_access(view, actor, org, "audit.read")?;
            let items = view.audit_of(org, page.after, page.limit + 1)?;
            Ok(Page::from_sorted(items, page.limit, |e: &AuditEntry| {
                e.id.key()
            }))
        })
    }

    pub fn events(&self, actor: Actor, org: OrgId, page: PageRequest) -> Result<Page<Event>> {
        self.store.read(|view| {
            self.journal_access(view, actor, org, "events.read")?;
            let items = view.events_of(org, page.after, page.limit + 1)?;
            Ok(Page::from_sorted(items, page.limit, |e: &Event| e.id.key()))
        })
    }
}

/// Which audit entries an export takes.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since: Option<crate::domain::clock::Timestamp>,
    pub until: Option<crate::domain::clock::Timestamp>,
    pub action: Option<String>,
}

impl AuditFilter {
    fn keeps(&self, e: &AuditEntry) -> bool {
        self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
            && self.action.as_deref().is_none_or(|a| e.action == a)
    }
}

impl App {
    /// Checks the caller may export `org`'s audit log: the operator (`audit.export`).
    pub fn may_export_audit(&self, actor: Actor, org: OrgId) -> Result<()> {
        if !actor.is_operator() {
            return Err(crate::error::Error::Forbidden {
                reason: "the audit log is exported by the platform operator".into(),
                layer: "platform".into(),
            });
        }
        self.store
            .read(|view| self.journal_access(view, actor, org, "audit.export"))
    }

    /// One page of an audit export: up to `limit` matching entries after `after`, and where to
    /// continue (none at the end). Each page is its own snapshot, so a long export never holds
    /// the database.
    pub fn audit_export_page(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        after: Option<u128>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<u128>)> {
        self.store.read(|view| {
            let rows = view.audit_of(org, after, limit)?;
            let next = (rows.len() == limit)
                .then(|| rows.last().map(|e| e.id.key()))
                .flatten();
            Ok((rows.into_iter().filter(|e| filter.keeps(e)).collect(), next))
        })
    }
}

/// Events removed per write transaction while pruning, so the writer is never held long.
const EVENT_PRUNE_BATCH: usize = 1_000;

impl App {
    /// Removes outbox events older than `event_retention_hours`; returns how many. Events are
    /// kept in creation order per organization, so each organization's old ones are a prefix.
    pub async fn prune_events_once(&self) -> Result<usize> {
        let age_ms = i64::try_from(
            self.settings
                .event_retention_hours
                .saturating_mul(3_600_000),
        )
        .unwrap_or(i64::MAX);
        let cutoff = self.clock.now().0.saturating_sub(age_ms);
        let mut removed = 0;
        loop {
            let batch = self
                .store
                .write(move |tx| Ok(tx.prune_events_before(cutoff, EVENT_PRUNE_BATCH)?))
                .await?;
            removed += batch;
            if batch < EVENT_PRUNE_BATCH {
                return Ok(removed);
            }
        }
    }

    /// Prunes the outbox every ten minutes until the task is dropped.
    pub async fn prune_events(self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = self.prune_events_once().await {
                tracing::error!(error = %e, "pruning the event outbox failed");
            }
        }
    }
}
