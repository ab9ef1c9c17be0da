//! Remote support: the provider's people ask for time-bound access to a customer with a scope
//! and a duration; the customer's owner and admins answer in the inbox (approve, deny), see
//! running grants with the time they have left (revoke), each request's timeline, and what was
//! done under each grant.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::pages::{Notice, Tab, button, label, org_layout, when};
use super::{Signed, error_page, outcome, page, sender_for, sender_for_item, viewer_of};
use crate::app::access::Offer;
use crate::app::remote_support::{MAX_MINUTES, NewRequest, SupportAction};
use crate::app::{App, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{EntryId, OrgId, RemoteSupportId};
use crate::domain::journal::AuditEntry;
use crate::domain::org::Org;
use crate::domain::remote_support::{RemoteSupport, Scope, SupportStatus};
use crate::error::Error;

/// What this screen offers: the buttons on a request are shown to whoever did not ask for it
/// (the platform refuses a requester's own approval), ending a grant to its requester.
fn offers() -> [Offer; 6] {
    let decide = |action| Offer {
        name: action,
        action,
        resource: json!({"is_requester": false}),
    };
    [
        Offer::plain("remote_support.request"),
        decide("remote_support.approve"),
        decide("remote_support.deny"),
        Offer::plain("remote_support.revoke"),
        Offer {
            name: "remote_support.end",
            action: "remote_support.end",
            resource: json!({"is_requester": true}),
        },
        Offer::plain("audit.read"),
    ]
}

pub async fn show(State(app): State<App>, headers: HeaderMap, Path(org): Path<String>) -> Response {
    match viewer_of(&app, &headers, &org) {
        Ok((signed, org)) => screen(&app, &signed, org, StatusCode::OK, None),
        Err(refusal) => refusal.page(),
    }
}

/// The audit entries written under `grant`, among the first page after it was requested
/// (audit ids are time-ordered: a grant's work comes after its request).
fn done_under(app: &App, signed: &Signed, grant: &RemoteSupport) -> Vec<AuditEntry> {
    let requested = EntryId::from_key((grant.id.key() >> 80) << 80);
    let after = PageRequest {
        limit: App::MAX_PAGE,
        after: Some(requested.key().saturating_sub(1)),
    };
    app.audit_log(signed.actor, grant.org_id, after)
        .map(|page| page.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry.grant_id == Some(grant.id))
        .collect()
}

fn screen(
    app: &App,
    signed: &Signed,
    org: OrgId,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let org = match app.get_org(signed.actor, org) {
        Ok(org) => org,
        Err(error) => return error_page(error),
    };
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let offered = app
        .offered(signed.actor, org.id, &offers())
        .unwrap_or_default();
    let requests = app
        .list_remote_support(signed.actor, org.id, all)
        .map(|page| {
            let mut items = page.items;
            items.reverse();
            items
                .into_iter()
                .map(|r| {
                    let done = if offered.contains(&"audit.read") && r.granted_at.is_some() {
                        done_under(app, signed, &r)
                    } else {
                        Vec::new()
                    };
                    (r, done)
                })
                .collect::<Vec<_>>()
        })
        .map_err(|error| error.to_string());
    let now = app.clock.now();
    let body = html! {
        (request_form(&org, &offered, &signed.csrf))
        (inbox(&org, &requests, signed, &offered, now))
    };
    page(
        status,
        org_layout(
            &org,
            Tab::RemoteSupport,
            notice.as_ref(),
            &signed.csrf,
            body,
        ),
    )
}

fn request_form(org: &Org, offered: &[&str], csrf: &str) -> Markup {
    html! {
        @if offered.contains(&"remote_support.request") {
            section aria-labelledby="ask" {
                h2 #ask { "Ask for remote support access" }
                form method="post" action={ "/console/orgs/" (org.id) "/remote-support" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="reason" { "Reason (the customer sees it)" }
                    input #reason type="text" name="reason" maxlength="500" required;
                    label for="minutes" { "Minutes (1 to " (MAX_MINUTES) ")" }
                    input #minutes type="number" name="minutes" min="1" max=(MAX_MINUTES) value="60" required;
                    label for="scope" { "Scope" }
                    select #scope name="scope" {
                        option value="read" { "read: look, change nothing" }
                        option value="admin" { "admin: act as an admin" }
                    }
                    button type="submit" { "Request access" }
                }
            }
        }
    }
}

fn status_text(r: &RemoteSupport, now: Timestamp) -> String {
    match (r.status, r.ends_at) {
        (SupportStatus::Granted, Some(ends)) => {
            let minutes = (ends.0 - now.0).max(0).unsigned_abs().div_ceil(60_000);
            format!("granted, {minutes} min left (until {})", when(ends))
        }
        (SupportStatus::Pending, _) => format!("pending, answer by {}", when(r.decide_by)),
        (status, _) => label(&status),
    }
}

fn actions(org: &Org, r: &RemoteSupport, signed: &Signed, offered: &[&str]) -> Markup {
    let mine = signed.actor.user_id == Some(r.requester_id);
    let possible: &[(&str, &str)] = match r.status {
        SupportStatus::Pending if !mine => &[("approve", "Approve"), ("deny", "Deny")],
        SupportStatus::Granted if mine => &[("end", "End")],
        SupportStatus::Granted => &[("revoke", "Revoke")],
        _ => &[],
    };
    html! {
        @for (action, text) in possible {
            @if offered.contains(&format!("remote_support.{action}").as_str()) {
                (button(&format!("/console/orgs/{}/remote-support/{}/{action}", org.id, r.id), text, &signed.csrf))
            }
        }
    }
}

fn inbox(
    org: &Org,
    requests: &Result<Vec<(RemoteSupport, Vec<AuditEntry>)>, String>,
    signed: &Signed,
    offered: &[&str],
    now: Timestamp,
) -> Markup {
    html! {
        section aria-labelledby="requests" {
            h2 #requests { "Requests and grants" }
            @match requests {
                Ok(requests) if requests.is_empty() => { p { "No remote support request." } }
                Ok(requests) => {
                    table {
                        thead { tr {
                            th scope="col" { "Asked" } th scope="col" { "Reason" } th scope="col" { "Scope" }
                            th scope="col" { "Minutes" } th scope="col" { "Status" } th scope="col" { "Actions" }
                        } }
                        tbody {
                            @for (r, _) in requests {
                                tr {
                                    td { (when(r.created_at)) }
                                    td { (r.reason) }
                                    td { (r.scope.as_str()) }
                                    td { (r.minutes_granted.unwrap_or(r.minutes_requested)) }
                                    td { (status_text(r, now)) }
                                    td { (actions(org, r, signed, offered)) }
                                }
                            }
                        }
                    }
                    @for (r, done) in requests {
                        details {
                            summary { "Timeline of “" (r.reason) "” (" (when(r.created_at)) ")" }
                            ol.timeline {
                                @for event in &r.timeline {
                                    li {
                                        (when(event.at)) ": " (event.event)
                                        @if let Some(reason) = &event.reason { " — " (reason) }
                                    }
                                }
                            }
                            @if r.granted_at.is_some() {
                                h3 { "Done under this grant" }
                                @if done.is_empty() {
                                    p { "Nothing recorded." }
                                } @else {
                                    ul { @for entry in done { li { (when(entry.at)) ": " code { (entry.action) } @if let Some(target) = &entry.target { " on " (target) } } } }
                                }
                            }
                        }
                    }
                }
                Err(reason) => { p { "Not shown: " (reason) } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RequestForm {
    csrf: String,
    reason: String,
    minutes: String,
    scope: String,
}

pub async fn request(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<RequestForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    // What the form cannot parse goes to the use case as missing: it names the field and
    // what is allowed.
    let body = NewRequest {
        reason: Some(form.reason),
        minutes: form.minutes.trim().parse().ok(),
        scope: match form.scope.as_str() {
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        },
    };
    let (status, notice) = outcome(
        app.request_remote_support(signed.actor, org, body).await,
        StatusCode::CREATED,
        |r| {
            Notice::Done(format!(
                "Remote support request sent: {}.",
                status_text(&r, app.clock.now())
            ))
        },
    );
    screen(&app, &signed, org, status, Some(notice))
}

pub async fn act(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, request, action)): Path<(String, String, String)>,
    Form(form): Form<super::CsrfOnly>,
) -> Response {
    let ids = (org.as_str(), request.as_str());
    let what = "remote support request";
    let (signed, org, id) =
        match sender_for_item(&app, &headers, &form.csrf, ids, RemoteSupportId, what) {
            Ok(sender) => sender,
            Err(refusal) => return refusal.page(),
        };
    let action = match action.as_str() {
        "approve" => SupportAction::Approve,
        "deny" => SupportAction::Deny,
        "revoke" => SupportAction::Revoke,
        "end" => SupportAction::End,
        _ => return error_page(Error::NotFound("action")),
    };
    let (status, notice) = outcome(
        app.act_on_remote_support(signed.actor, org, id, action)
            .await,
        StatusCode::OK,
        |r| {
            Notice::Done(format!(
                "The request is {}.",
                status_text(&r, app.clock.now())
            ))
        },
    );
    screen(&app, &signed, org, status, Some(notice))
}
