//! Change requests: what a service provider asked of a customer that waits for the customer's
//! consent ([`crate::domain::change_request`]). The provider's request answers `202` with the
//! organization unchanged; the customer's owner (or an admin, where the kind allows) accepts or
//! declines it; both sides get an event either way, and everything is audited.

use serde_json::{Value, json};

use super::access::Access;
use super::actor::Actor;
use super::journal::{audit, emit};
use super::{App, Page, PageRequest};
use crate::domain::change_request::{ChangeKind, ChangeRequest, ChangeStatus};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{ChangeRequestId, OrgId};
use crate::domain::org::{ManagedBy, Org};
use crate::domain::privilege::Standing;
use crate::error::{Error, Result};
use crate::storage::{Tx, View};

/// Tells both sides of a change to `org`.
pub fn announce(tx: &Tx<'_>, org: &Org, kind: &str, data: Value, now: Timestamp) -> Result<()> {
    emit(tx, org.id, kind, data.clone(), now)?;
    if let Some(sp) = org.service_provider_id {
        emit(tx, sp, kind, data, now)?;
    }
    Ok(())
}

/// The requests of `org` still waiting for an answer.
pub fn pending_of(view: &View<'_>, org: OrgId) -> Result<Vec<ChangeRequest>> {
    let mut out = Vec::new();
    for id in view.change_requests_of(org)? {
        if let Some(r) = view.change_request(id)?
            && r.status == ChangeStatus::Pending
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// Opens a request for `kind` on behalf of `access` (the provider); a pending one of the same
/// kind is superseded.
pub fn open(
    tx: &Tx<'_>,
    access: &Access,
    kind: ChangeKind,
    now: Timestamp,
) -> Result<ChangeRequest> {
    let view = tx.view();
    for mut old in pending_of(&view, access.org.id)? {
        if old.kind.same_kind(kind) {
            old.status = ChangeStatus::Superseded;
            old.decided_at = Some(now);
            tx.put_change_request(&old)?;
        }
    }
    let request = ChangeRequest {
        id: ChangeRequestId::new(),
        org_id: access.org.id,
        provider_id: access.org.service_provider_id,
        kind,
        status: ChangeStatus::Pending,
        requested_by: access.actor.user_id,
        requested_at: now,
        decided_by: None,
        decided_at: None,
    };
    tx.insert_change_request(&request)?;
    audit(
        tx,
        access,
        "change_request.open",
        Some(request.id.to_string()),
        now,
    )?;
    announce(
        tx,
        &access.org,
        "change_request.opened",
        json!({"org_id": access.org.id, "request": request}),
        now,
    )?;
    Ok(request)
}

/// Applies an accepted request to the organization; returns it changed.
fn apply(tx: &Tx<'_>, org: &Org, kind: ChangeKind, now: Timestamp) -> Result<Org> {
    let mut next = org.clone();
    match kind {
        ChangeKind::ApprovalOff => next.remote_support_requires_approval = false,
        ChangeKind::ManagedByProvider { demote_owner_to } => {
            if org.managed_by != ManagedBy::Customer {
                return Err(Error::Conflict(format!(
                    "organization `{}` is no longer managed by the customer",
                    org.tenant_id
                )));
            }
            super::orgs::demote_owner(tx, org, Some(demote_owner_to))?;
            next.managed_by = ManagedBy::ServiceProvider;
        }
    }
    next.updated_at = now;
    tx.update_org(org, &next)?;
    Ok(next)
}

impl App {
    pub fn list_change_requests(
        &self,
        actor: Actor,
        org: OrgId,
        page: PageRequest,
    ) -> Result<Page<ChangeRequest>> {
        self.store.read(|view| {
            self.access(view, actor, org, "change_request.list", Value::Null)?;
            let mut items = Vec::new();
            for id in view
                .change_requests_of(org)?
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| id.key() > a))
            {
                if let Some(r) = view.change_request(id)? {
                    items.push(r);
                }
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |r: &ChangeRequest| {
                r.id.key()
            }))
        })
    }

    /// The customer's answer to a pending request. Only the customer's own owner (and, for
    /// some kinds, admins) may give it; never the provider that asked, never under a grant.
    pub async fn answer_change_request(
        &self,
        actor: Actor,
        org: OrgId,
        id: ChangeRequestId,
        accept: bool,
    ) -> Result<ChangeRequest> {
        let app = self.clone();
        let action = if accept {
            "change_request.accept"
        } else {
            "change_request.decline"
        };
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(&view, actor, org, action, json!({"request_id": id}))?;
            let mut request: ChangeRequest = view
                .change_request(id)?
                .filter(|r| r.org_id == org)
                .ok_or(Error::NotFound("change request"))?;
            let consenting = request.kind.consenting_roles();
            let may = matches!(access.standing(), Some(Standing::Member(role)) if consenting.contains(&role));
            if !may {
                return Err(Error::Forbidden {
                    reason: format!(
                        "a change the service provider asked for is answered by the customer's {}",
                        if consenting.len() > 1 { "owner or an admin" } else { "owner" }
                    ),
                    layer: "platform".into(),
                });
            }
            if request.status != ChangeStatus::Pending {
                return Err(Error::Conflict(format!(
                    "this change request is already `{}`",
                    json!(request.status).as_str().unwrap_or_default()
                )));
            }
            request.status = if accept {
                ChangeStatus::Accepted
            } else {
                ChangeStatus::Declined
            };
            request.decided_by = actor.user_id;
            request.decided_at = Some(now);
            tx.put_change_request(&request)?;
            if accept {
                let next = apply(tx, &access.org, request.kind, now)?;
                let kind = match request.kind {
                    ChangeKind::ApprovalOff => "org.approval_changed",
                    ChangeKind::ManagedByProvider { .. } => "org.managed_by_changed",
                };
                announce(
                    tx,
                    &next,
                    kind,
                    json!({"org_id": org, "remote_support_requires_approval": next.remote_support_requires_approval, "managed_by": next.managed_by}),
                    now,
                )?;
            }
            audit(tx, &access, action, Some(id.to_string()), now)?;
            announce(
                tx,
                &access.org,
                "change_request.answered",
                json!({"org_id": org, "request": request}),
                now,
            )?;
            Ok(request)
        })
        .await
    }
}
