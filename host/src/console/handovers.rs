//! Who runs an organization, on its overview: the provider's switch between customer-managed
//! (naming the owner: a member, or a new person invited) and provider-managed (the owner
//! demoted to admin or member, which waits for the owner's consent: the trust model's rule);
//! the owner handing the organization to an admin; and the changes the provider asked for,
//! which the customer accepts or declines here.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::members::{Filter, screen};
use super::pages::{Notice, button, label, when};
use super::{CsrfOnly, Signed, error_page, outcome, path_id, sender_for, sender_for_item};
use crate::app::handovers::OwnershipTransfer;
use crate::app::members::MemberView;
use crate::app::orgs::{Created, ManagedBySwitch};
use crate::app::{App, PageRequest};
use crate::domain::change_request::{ChangeKind, ChangeStatus};
use crate::domain::ids::{ChangeRequestId, UserId};
use crate::domain::member::{MembershipStatus, Role};
use crate::domain::org::{ManagedBy, Org, OwnerDetails};
use crate::error::Error;

/// The offers this section reads (see `members::offers`).
pub(super) const TO_PROVIDER: &str = "managed by provider";
pub(super) const TO_CUSTOMER: &str = "managed by customer";

pub(super) fn section(
    app: &App,
    signed: &Signed,
    org: &Org,
    members: &Result<Vec<MemberView>, String>,
    offered: &[&str],
) -> Markup {
    let base = format!("/console/orgs/{}", org.id);
    let csrf = &signed.csrf;
    let active = |role: Role| -> Vec<&MemberView> {
        members
            .as_ref()
            .map(|m| {
                m.iter()
                    .filter(|m| m.role == role && m.status == MembershipStatus::Active)
                    .collect()
            })
            .unwrap_or_default()
    };
    let requests = if offered.contains(&"change_request.list") {
        let all = PageRequest {
            limit: App::MAX_PAGE,
            after: None,
        };
        app.list_change_requests(signed.actor, org.id, all)
            .map(|page| page.items)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let pending: Vec<_> = requests
        .iter()
        .filter(|r| r.status == ChangeStatus::Pending)
        .collect();
    let admins = active(Role::Admin);
    html! {
        @if !pending.is_empty() {
            section aria-labelledby="change-requests" {
                h2 #change-requests { "Changes the service provider asked for" }
                ul {
                    @for request in &pending {
                        li {
                            (change_text(request.kind)) " (asked " (when(request.requested_at)) ") "
                            @if offered.contains(&"change_request.accept") {
                                (button(&format!("{base}/change-requests/{}/accept", request.id), "Consent", csrf))
                            }
                            @if offered.contains(&"change_request.decline") {
                                (button(&format!("{base}/change-requests/{}/decline", request.id), "Refuse", csrf))
                            }
                        }
                    }
                }
            }
        }
        @if org.managed_by == ManagedBy::Customer && offered.contains(&TO_PROVIDER) {
            details {
                summary { "Manage it as its service provider" }
                form method="post" action={ (base) "/managed-by" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="managed_by" value="service_provider";
                    label for="demote-to" { "Its owner becomes" }
                    select #demote-to name="demote_owner_to" {
                        option value="admin" { "an admin" }
                        option value="member" { "a member" }
                    }
                    p.muted { "The owner is asked first: the switch happens once they consent." }
                    button type="submit" { "Ask to manage it" }
                }
            }
        }
        @if org.managed_by == ManagedBy::ServiceProvider && offered.contains(&TO_CUSTOMER) {
            details {
                summary { "Hand it to the customer" }
                form method="post" action={ (base) "/managed-by" } {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="managed_by" value="customer";
                    label for="owner-user" { "Its owner: a member" }
                    select #owner-user name="owner_user_id" {
                        option value="" { "someone new (below)" }
                        @for member in active(Role::Admin).into_iter().chain(active(Role::Member)) {
                            option value=(member.user_id) { (member.name) " — " (member.email.as_deref().unwrap_or("no e-mail")) }
                        }
                    }
                    label for="new-owner-name" { "or a new person's name" }
                    input #new-owner-name type="text" name="owner_name";
                    label for="new-owner-email" { "and e-mail address (they are invited)" }
                    input #new-owner-email type="email" name="owner_email";
                    button type="submit" { "Hand it over" }
                }
            }
        }
        @if org.managed_by == ManagedBy::Customer && offered.contains(&"org.transfer_ownership") && !admins.is_empty() {
            details {
                summary { "Hand the ownership to an admin" }
                form method="post" action={ (base) "/ownership" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="new-owner" { "The new owner (you become an admin)" }
                    select #new-owner name="user_id" {
                        @for admin in &admins {
                            option value=(admin.user_id) { (admin.name) }
                        }
                    }
                    button type="submit" { "Hand over the ownership" }
                }
            }
        }
    }
}

fn change_text(kind: ChangeKind) -> String {
    match kind {
        ChangeKind::ApprovalOff => "Remote support without the customer's approval".into(),
        ChangeKind::ManagedByProvider { demote_owner_to } => format!(
            "The provider manages the organization; the owner becomes {}",
            label(&demote_owner_to)
        ),
    }
}

#[derive(Deserialize)]
pub struct SwitchForm {
    csrf: String,
    managed_by: String,
    #[serde(default)]
    demote_owner_to: String,
    #[serde(default)]
    owner_user_id: String,
    #[serde(default)]
    owner_name: String,
    #[serde(default)]
    owner_email: String,
}

impl SwitchForm {
    /// The switch as the use case takes it; an unknown value is named by its field.
    fn body(&self) -> Result<ManagedBySwitch, Error> {
        let invalid = |field: &str, why: &str| Error::field("switch is invalid", field, why);
        let managed_by = match self.managed_by.as_str() {
            "customer" => ManagedBy::Customer,
            "service_provider" => ManagedBy::ServiceProvider,
            _ => return Err(invalid("managed_by", "`customer` or `service_provider`")),
        };
        let demote_owner_to = match self.demote_owner_to.as_str() {
            "" => None,
            role => Some(
                Role::parse(role)
                    .ok_or_else(|| invalid("demote_owner_to", "`admin` or `member`"))?,
            ),
        };
        let owner_user_id = match self.owner_user_id.trim() {
            "" => None,
            id => Some(
                path_id(id, UserId, "member")
                    .map_err(|_| invalid("owner_user_id", "one of the organization's members"))?,
            ),
        };
        let owner = (owner_user_id.is_none() && !self.owner_email.trim().is_empty()).then(|| {
            OwnerDetails {
                name: self.owner_name.trim().to_owned(),
                email: self.owner_email.trim().to_owned(),
            }
        });
        Ok(ManagedBySwitch {
            managed_by,
            owner_user_id,
            owner,
            demote_owner_to,
        })
    }
}

/// What a switch came to, for the notice.
fn switched(created: Created) -> Notice {
    match (created.pending, created.owner_invitation_token) {
        (Some(_), _) => Notice::Done(
            "The customer's owner is asked: the switch happens once they consent.".into(),
        ),
        (None, Some(token)) => Notice::Invited {
            name: format!(
                "{} is the customer's to run; its new owner",
                created.org.name
            ),
            token: Some(token.expose().to_owned()),
        },
        (None, None) => Notice::Done(format!(
            "{} is now managed by {}.",
            created.org.name,
            label(&created.org.managed_by)
        )),
    }
}

pub async fn switch(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<SwitchForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match form.body() {
        Ok(body) => app.switch_managed_by(signed.actor, org, body).await,
        Err(error) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::OK, switched);
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}

#[derive(Deserialize)]
pub struct OwnershipForm {
    csrf: String,
    user_id: String,
}

pub async fn transfer(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<OwnershipForm>,
) -> Response {
    let (signed, org) = match sender_for(&app, &headers, &form.csrf, &org) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let result = match path_id(form.user_id.trim(), UserId, "member") {
        Ok(user_id) => {
            app.transfer_ownership(signed.actor, org, OwnershipTransfer { user_id })
                .await
        }
        Err(error) => Err(error),
    };
    let (status, notice) = outcome(result, StatusCode::OK, |_| {
        Notice::Done("The ownership is handed over; you are an admin now.".into())
    });
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}

/// Consents to or refuses a change the provider asked for.
pub async fn answer(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, request, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let (signed, org, request) = match sender_for_item(
        &app,
        &headers,
        &form.csrf,
        (&org, &request),
        ChangeRequestId,
        "change request",
    ) {
        Ok(sender) => sender,
        Err(refusal) => return refusal.page(),
    };
    let accept = match action.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return error_page(Error::NotFound("action")),
    };
    let (status, notice) = outcome(
        app.answer_change_request(signed.actor, org, request, accept)
            .await,
        StatusCode::OK,
        |answered| {
            Notice::Done(match answered.status {
                ChangeStatus::Accepted => format!("Consented: {}.", change_text(answered.kind)),
                _ => format!("Refused: {}.", change_text(answered.kind)),
            })
        },
    );
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}
