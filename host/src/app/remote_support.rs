//! Remote support: a provider member asks for time-bound access to a customer organization;
//! the `remote_support` hook grants, asks for approval, or denies.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{self, Access};
use super::actor::Actor;
use super::journal::{audit, emit};
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, RemoteSupportId, UserId};
use crate::domain::remote_support::{RemoteSupport, Scope, SupportStatus};
use crate::error::{Error, FieldError, Result};
use crate::policy::input::{OrgInput, PlanInput, RemoteSupportInput, Requester, SupportRequest};
use crate::policy::verdict::Verdict;
use crate::storage::{Tx, View};

const INVALID_REQUEST: &str = "remote support request is invalid";
/// The longest access anyone can ask for, whatever the plan: one week.
pub const MAX_MINUTES: u32 = 7 * 24 * 60;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"reason": "ticket 4711: calls drop after 30 s", "minutes": 60, "scope": "read"}))]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub reason: Option<String>,
    pub minutes: Option<u32>,
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportAction {
    Approve,
    Deny,
    Revoke,
    End,
}

impl SupportAction {
    pub fn name(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Revoke => "revoke",
            Self::End => "end",
        }
    }
}

/// The record as of now (deadlines applied).
fn current(mut r: RemoteSupport, now: Timestamp) -> RemoteSupport {
    let status = r.status_at(now);
    if status != r.status {
        let at = if r.status == SupportStatus::Pending {
            r.decide_by
        } else {
            r.ends_at.unwrap_or(now)
        };
        r.record("expired", at, None, None);
        r.status = status;
    }
    r
}

fn validate(body: NewRequest) -> Result<(String, u32, Scope)> {
    let mut errors = Vec::new();
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        errors.push(FieldError::new("reason", "must be 1 to 500 characters"));
    }
    let minutes = body.minutes.unwrap_or(0);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        errors.push(FieldError::new(
            "minutes",
            format!("must be 1 to {MAX_MINUTES}"),
        ));
    }
    if body.scope.is_none() {
        errors.push(FieldError::new("scope", "is required: `read` or `admin`"));
    }
    match body.scope {
        Some(scope) if errors.is_empty() => Ok((reason, minutes, scope)),
        _ => Err(Error::invalid(INVALID_REQUEST, errors)),
    }
}

fn load_request(view: &View<'_>, org: OrgId, id: RemoteSupportId) -> Result<RemoteSupport> {
    view.remote_support(id)?
        .filter(|r| r.org_id == org)
        .ok_or(Error::NotFound("remote support request"))
}

fn announce(tx: &Tx<'_>, r: &RemoteSupport, now: Timestamp) -> Result<()> {
    for org in [r.org_id, r.provider_id] {
        emit(
            tx,
            org,
            "remote_support.changed",
            json!({"request_id": r.id, "org_id": r.org_id, "status": r.status}),
            now,
        )?;
    }
    Ok(())
}

/// Requests of `requester` still open now (pending, or granted and running).
fn open_requests_of(view: &View<'_>, requester: UserId, now: Timestamp) -> Result<usize> {
    let mut open = 0;
    for id in view.remote_support_by(requester)? {
        if let Some(r) = view.remote_support(id)?
            && matches!(
                r.status_at(now),
                SupportStatus::Pending | SupportStatus::Granted
            )
        {
            open += 1;
        }
    }
    Ok(open)
}

/// Writes down the expiry of a request or grant past its deadline. Returns whether it did.
pub fn expire_if_due(tx: &Tx<'_>, id: u128, now: Timestamp) -> Result<bool> {
    let Some(r) = tx.view().remote_support(RemoteSupportId::from_key(id))? else {
        return Ok(false);
    };
    if r.status_at(now) == r.status {
        return Ok(false);
    }
    let r = current(r, now);
    tx.put_remote_support(&r)?;
    announce(tx, &r, now)?;
    Ok(true)
}

fn grant(
    r: &mut RemoteSupport,
    minutes: u32,
    now: Timestamp,
    by: Option<crate::domain::ids::UserId>,
) {
    r.status = SupportStatus::Granted;
    r.minutes_granted = Some(minutes);
    r.granted_at = Some(now);
    r.ends_at = Some(now.plus_minutes(minutes));
    r.record("activated", now, by, Some(format!("{minutes} minutes")));
}

impl App {
    pub async fn request_remote_support(
        &self,
        actor: Actor,
        org: OrgId,
        body: NewRequest,
    ) -> Result<RemoteSupport> {
        let (reason, minutes, scope) = validate(body)?;
        let app = self.clone();
        self.write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let access = app.access(&view, actor, org, "remote_support.request", json!({"scope": scope, "minutes": minutes}))?;
                let (Some(provider), Some(requester)) = (access.org.service_provider_id, actor.user_id) else {
                    return Err(Error::Conflict("remote support is requested by a member of the organization's service provider".into()));
                };
                Quotas::check(
                    "open_requests_per_requester",
                    open_requests_of(&view, requester, now)?,
                    1,
                    app.settings.quotas.open_requests_per_requester,
                    "wait for an answer, or end a grant you no longer need",
                )?;
                let plan_max = view.limits_of(&access.org)?.max_remote_support_minutes;
                let input = RemoteSupportInput {
                    org: OrgInput::of(&access.org),
                    requester: Requester {
                        id: requester.to_string(),
                        provider_id: provider.to_string(),
                        provider_role: access.provider_role,
                    },
                    request: SupportRequest { reason: reason.clone(), minutes, scope },
                    plan: PlanInput { max_remote_support_minutes: plan_max },
                    now,
                };
                let decision = app.ask(access.subject(), input);
                let mut r = RemoteSupport {
                    id: RemoteSupportId::new(),
                    org_id: org,
                    provider_id: provider,
                    requester_id: requester,
                    reason,
                    scope,
                    minutes_requested: minutes,
                    minutes_granted: None,
                    status: SupportStatus::Pending,
                    created_at: now,
                    decide_by: now.plus(app.settings.remote_support_pending_ttl()),
                    granted_at: None,
                    ends_at: None,
                    timeline: Vec::new(),
                };
                r.record("requested", now, Some(requester), None);
                match decision.answer.verdict {
                    Verdict::Grant => {
                        let granted = minutes.min(decision.answer.minutes.unwrap_or(minutes)).min(plan_max);
                        r.record("approved", now, None, Some(decision.reason().to_owned()));
                        grant(&mut r, granted, now, None);
                    }
                    Verdict::RequireApproval => {}
                    _ => {
                        r.status = SupportStatus::Denied;
                        r.record("denied", now, None, Some(decision.reason().to_owned()));
                    }
                }
                tx.insert_remote_support(&r)?;
                audit(tx, &access, "remote_support.request", Some(r.id.to_string()), now)?;
                announce(tx, &r, now)?;
                if r.status == SupportStatus::Pending {
                    app.postbox().remote_support_pending(tx, &access.org, &r, now)?;
                }
                Ok(r)
            })
            .await
    }

    pub fn list_remote_support(
        &self,
        actor: Actor,
        org: OrgId,
        page: PageRequest,
    ) -> Result<Page<RemoteSupport>> {
        let now = self.clock.now();
        self.store.read(|view| {
            self.access(view, actor, org, "remote_support.list", Value::Null)?;
            let mut items = Vec::new();
            for id in view
                .remote_support_on(org)?
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| id.key() > a))
            {
                if let Some(r) = view.remote_support(id)? {
                    items.push(current(r, now));
                }
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |r: &RemoteSupport| {
                r.id.key()
            }))
        })
    }

    pub async fn act_on_remote_support(
        &self,
        actor: Actor,
        org: OrgId,
        id: RemoteSupportId,
        action: SupportAction,
    ) -> Result<RemoteSupport> {
        let app = self.clone();
        self.write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let name = format!("remote_support.{}", action.name());
                let access = access::load(&view, actor, org, now)?;
                let stored = load_request(&view, org, id)?;
                let is_requester = actor.user_id == Some(stored.requester_id);
                app.authorize(&access, &name, json!({"request_id": id, "requester_id": stored.requester_id, "is_requester": is_requester}))?;
                let mut r = current(stored, now);
                apply(&view, &access, &mut r, action, is_requester, now)?;
                tx.put_remote_support(&r)?;
                audit(tx, &access, &name, Some(id.to_string()), now)?;
                announce(tx, &r, now)?;
                Ok(r)
            })
            .await
    }
}

fn apply(
    view: &View<'_>,
    access: &Access,
    r: &mut RemoteSupport,
    action: SupportAction,
    is_requester: bool,
    now: Timestamp,
) -> Result<()> {
    let by = access.actor.user_id;
    let wrong = |wanted: &str| {
        Error::Conflict(format!(
            "cannot {} a request that is `{}`; it must be {wanted}",
            action.name(),
            json!(r.status).as_str().unwrap_or_default()
        ))
    };
    match action {
        SupportAction::Approve | SupportAction::Deny => {
            if is_requester {
                return Err(Error::Forbidden {
                    reason: "a remote support request cannot be decided by its requester".into(),
                    layer: "platform".into(),
                });
            }
            if r.status != SupportStatus::Pending {
                return Err(wrong("`pending`"));
            }
            if action == SupportAction::Approve {
                let plan_max = view.limits_of(&access.org)?.max_remote_support_minutes;
                r.record("approved", now, by, None);
                grant(r, r.minutes_requested.min(plan_max), now, by);
            } else {
                r.status = SupportStatus::Denied;
                r.record("denied", now, by, None);
            }
        }
        SupportAction::Revoke | SupportAction::End => {
            if r.status != SupportStatus::Granted {
                return Err(wrong("`granted`"));
            }
            let (status, event) = if action == SupportAction::Revoke {
                (SupportStatus::Revoked, "revoked")
            } else {
                (SupportStatus::Ended, "ended")
            };
            r.status = status;
            r.ends_at = Some(now);
            r.record(event, now, by, None);
        }
    }
    Ok(())
}
