//! The organization's overview on its first screen: its fields, status, plan and the limits
//! in use, its owner, the remote-support approval setting (changed by whoever the trust model
//! lets: a provider's switching it off waits for the customer's consent), and suspending,
//! reactivating or deleting it (deleting asks for the tenant id typed out).

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::members::{Filter, screen};
use super::pages::{Notice, button, label};
use super::{CsrfOnly, Signed, error_page, outcome, redirect, sender_for};
use crate::app::App;
use crate::app::members::MemberView;
use crate::domain::member::Role;
use crate::domain::org::{Org, OrgPatch, OrgStatus};
use crate::error::Error;

/// The limit as "used of allowed".
fn of(used: usize, limit: u32) -> String {
    format!("{used} of {limit}")
}

pub(super) fn section(
    app: &App,
    signed: &Signed,
    org: &Org,
    members: &Result<Vec<MemberView>, String>,
    offered: &[&str],
) -> Markup {
    let plan = app.plan_in_use(signed.actor, org.id);
    let owner = members
        .as_ref()
        .ok()
        .and_then(|m| m.iter().find(|m| m.role == Role::Owner))
        .map(|m| m.name.clone());
    let base = format!("/console/orgs/{}", org.id);
    let csrf = &signed.csrf;
    html! {
        section aria-labelledby="overview" {
            h2 #overview { "Overview" }
            dl {
                dt { "Organization id" } dd { code { (org.id) } }
                dt { "Tenant id" } dd { (org.tenant_id) }
                dt { "Type" } dd { (label(&org.account_type)) }
                dt { "Status" } dd { (label(&org.status)) }
                dt { "Managed by" } dd { (label(&org.managed_by)) }
                dt { "Owner" } dd { (owner.as_deref().unwrap_or("—")) }
                dt { "Region" } dd { (org.region) }
                @if let Ok(plan) = &plan {
                    dt { "Plan" } dd { (plan.plan_name.as_deref().unwrap_or("none (the default limits)")) }
                    dt { "Members" } dd { (of(plan.usage.members, plan.limits.max_members)) }
                    dt { "Teams" } dd { (of(plan.usage.teams, plan.limits.max_teams)) }
                    dt { "Active links" } dd { (of(plan.usage.active_links, plan.limits.max_active_links)) }
                    dt { "Remote support" } dd { "up to " (plan.limits.max_remote_support_minutes) " minutes a grant" }
                }
                dt { "Remote support needs approval" }
                dd {
                    @if org.remote_support_requires_approval { "yes " } @else { "no " }
                    @if offered.contains(&"org.update") {
                        @let (to, text) = if org.remote_support_requires_approval { ("off", "Stop asking for approval") } else { ("on", "Ask for approval") };
                        (button(&format!("{base}/approval/{to}"), text, csrf))
                    }
                }
            }
            (super::handovers::section(app, signed, org, members, offered))
            @if org.status == OrgStatus::Active && offered.contains(&"org.suspend") {
                (button(&format!("{base}/status/suspend"), "Suspend the organization", csrf))
            }
            @if org.status == OrgStatus::Suspended && offered.contains(&"org.reactivate") {
                (button(&format!("{base}/status/reactivate"), "Reactivate the organization", csrf))
            }
            @if offered.contains(&"org.delete") {
                details {
                    summary { "Delete the organization" }
                    form method="post" action={ (base) "/delete" } {
                        input type="hidden" name="csrf" value=(csrf);
                        p { "Everything it owns goes with it: members only here are erased, links end, shares are revoked." }
                        label for="confirm" { "Type its tenant id, " code { (org.tenant_id) } ", to confirm" }
                        input #confirm type="text" name="confirm" autocomplete="off" required;
                        button type="submit" { "Delete for good" }
                    }
                }
            }
        }
    }
}

/// Switches the remote-support approval setting on or off.
pub async fn approval(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, to)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let on = match to.as_str() {
        "on" => true,
        "off" => false,
        _ => return error_page(Error::NotFound("setting")),
    };
    let patch = OrgPatch {
        remote_support_requires_approval: Some(on),
        ..OrgPatch::default()
    };
    let (status, notice) = outcome(
        app.update_org(signed.actor, org, patch).await,
        StatusCode::OK,
        |changed| match changed.pending {
            Some(_) => Notice::Done(
                "The customer is asked: the setting changes once its owner or an admin consents."
                    .into(),
            ),
            None if on => Notice::Done("Remote support now needs approval.".into()),
            None => Notice::Done("Remote support no longer needs approval.".into()),
        },
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}

/// Suspends or reactivates the organization.
pub async fn status(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, to)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let status = match to.as_str() {
        "suspend" => OrgStatus::Suspended,
        "reactivate" => OrgStatus::Active,
        _ => return error_page(Error::NotFound("action")),
    };
    let (code, notice) = outcome(
        app.set_org_status(signed.actor, org, status).await,
        StatusCode::OK,
        |org| Notice::Done(format!("{} is {}.", org.name, label(&org.status))),
    );
    screen(&app, &signed, org, &Filter::default(), code, Some(notice))
}

#[derive(Deserialize)]
pub struct DeleteForm {
    csrf: String,
    confirm: String,
}

/// Deletes the organization once its tenant id is typed out; then back to the home page.
pub async fn delete(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let tenant = match app.get_org(signed.actor, org) {
        Ok(found) => found.tenant_id,
        Err(error) => return error_page(error),
    };
    if form.confirm.trim() != tenant {
        let notice = Notice::Refused {
            reason: "not deleted".into(),
            fields: vec![(
                "confirm".into(),
                format!("type the tenant id `{tenant}` to confirm"),
            )],
        };
        return screen(
            &app,
            &signed,
            org,
            &Filter::default(),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(notice),
        );
    }
    match app.delete_org(signed.actor, org).await {
        Ok(()) => redirect("/console"),
        Err(error) => {
            let (status, notice) = super::refusal(error);
            screen(&app, &signed, org, &Filter::default(), status, Some(notice))
        }
    }
}
