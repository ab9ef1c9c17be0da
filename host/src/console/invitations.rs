//! An organization's invitations not yet accepted, on its members screen: who, which role,
//! until when (expired ones marked); renew one (a new token, shown once, the old one dead) or
//! withdraw it.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::members::{Filter, screen};
use super::pages::{Notice, button, when};
use super::{CsrfOnly, Signed, error_page, outcome, sender_for_item};
use crate::app::{App, PageRequest};
use crate::domain::ids::InvitationId;
use crate::domain::member::Role;
use crate::domain::org::Org;
use crate::error::Error;

pub(super) fn section(app: &App, signed: &Signed, org: &Org, offered: &[&str]) -> Markup {
    if !offered.contains(&"invitation.list") {
        return html! {};
    }
    let all = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let pending = app
        .org_invitations(signed.actor, org.id, all)
        .map(|page| page.items)
        .map_err(|error| error.to_string());
    html! {
        section aria-labelledby="pending" {
            h2 #pending { "Invitations not yet accepted" }
            @match &pending {
                Ok(items) if items.is_empty() => { p { "None." } }
                Ok(items) => {
                    table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Role" } th scope="col" { "Expires" } th scope="col" { "Actions" } } }
                        tbody {
                            @for invitation in items {
                                tr {
                                    td { (invitation.name) }
                                    td { (invitation.email.as_deref().unwrap_or("—")) }
                                    td { (invitation.role.as_str()) }
                                    td { @if invitation.expired { strong { "expired" } " " } (when(invitation.expires_at)) }
                                    td {
                                        @let base = format!("/console/orgs/{}/invitations/{}", org.id, invitation.id);
                                        @let withdraw = match invitation.role { Role::Member => "withdraw member", _ => "withdraw admin" };
                                        @if offered.contains(&"invite member") {
                                            (button(&format!("{base}/resend"), "Resend", &signed.csrf))
                                        }
                                        @if offered.contains(&withdraw) {
                                            (button(&format!("{base}/withdraw"), "Withdraw", &signed.csrf))
                                        }
                                    }
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

pub async fn act(
    State(app): State<App>,
    headers: HeaderMap,
    Path((org, invitation, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let ids = (org.as_str(), invitation.as_str());
    let (signed, org, id) =
        match sender_for_item(&app, &headers, &form.csrf, ids, InvitationId, "invitation") {
            Ok(sender) => sender,
            Err(refusal) => return refusal.page(),
        };
    let (status, notice) = match action.as_str() {
        "resend" => outcome(
            app.resend_invitation(signed.actor, org, id).await,
            StatusCode::OK,
            |renewed| match renewed.token {
                Some(token) => Notice::Secret {
                    text: format!(
                        "{}'s invitation is renewed until {}; the old token no longer works. The new one, shown only now:",
                        renewed.invitation.name,
                        when(renewed.invitation.expires_at)
                    ),
                    secret: token.expose().to_owned(),
                },
                None => Notice::Done(format!(
                    "{}'s invitation is renewed and sent to their address.",
                    renewed.invitation.name
                )),
            },
        ),
        "withdraw" => outcome(
            app.revoke_invitation(signed.actor, org, id).await,
            StatusCode::OK,
            |()| Notice::Done("The invitation is withdrawn.".into()),
        ),
        _ => return error_page(Error::NotFound("action")),
    };
    screen(&app, &signed, org, &Filter::default(), status, Some(notice))
}
