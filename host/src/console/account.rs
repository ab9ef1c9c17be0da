//! The person's own screens: signing in and out, accepting an invitation (setting the password
//! of a new account), and the home page with their organizations and the invitations waiting
//! for them.

use axum::extract::{Form, Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{Notice, button, label, layout, notice_of, when};
use super::{
    CsrfOnly, Signed, anonymous_form, anonymous_form_sent_here, cookies, error_page,
    forbidden_form, outcome, page, path_id, redirect, refused, signed, signed_form,
};
use crate::api::extract::Anonymous;
use crate::app::invitations::{InvitationView, Naming};
use crate::app::sign_in::SESSION;
use crate::app::{App, PageRequest};
use crate::domain::ids::InvitationId;
use crate::domain::org::Org;
use crate::domain::secret::Secret;
use crate::error::Error;

pub async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    match signed(&app, &headers) {
        Ok(signed) => home_page(&app, &signed, StatusCode::OK, None),
        Err(error) => refused(error),
    }
}

fn home_page(app: &App, signed: &Signed, status: StatusCode, notice: Option<Notice>) -> Response {
    let page_request = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let orgs = match app.list_orgs(signed.actor, page_request) {
        Ok(orgs) => orgs.items,
        Err(error) => return error_page(error),
    };
    // The operator has no invitations of its own.
    let invitations = if signed.actor.user_id.is_some() {
        match app.my_invitations(signed.actor) {
            Ok(invitations) => invitations,
            Err(error) => return error_page(error),
        }
    } else {
        Vec::new()
    };
    page(
        status,
        organizations(&orgs, &invitations, notice.as_ref(), &signed.csrf),
    )
}

fn organizations(
    orgs: &[Org],
    invitations: &[InvitationView],
    notice: Option<&Notice>,
    csrf: &str,
) -> Markup {
    layout(
        "Organizations",
        Some(csrf),
        html! {
            (notice_of(notice))
            @if !invitations.is_empty() {
                section aria-labelledby="invitations" {
                    h2 #invitations { "Invitations for you" }
                    table {
                        thead { tr { th scope="col" { "Organization" } th scope="col" { "Role" } th scope="col" { "Expires" } th scope="col" { "Answer" } } }
                        tbody {
                            @for invitation in invitations {
                                tr {
                                    td { (invitation.org.name) }
                                    td { (invitation.role.as_str()) }
                                    td { (when(invitation.expires_at)) }
                                    td {
                                        (button(&format!("/console/invitations/{}/accept", invitation.id), "Accept", csrf))
                                        (button(&format!("/console/invitations/{}/decline", invitation.id), "Decline", csrf))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if orgs.is_empty() {
                p { "You are a member of no organization yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Tenant" } th scope="col" { "Type" } th scope="col" { "Status" } } }
                    tbody {
                        @for org in orgs {
                            tr {
                                td { a href={ "/console/orgs/" (org.id) } { (org.name) } }
                                td { (org.tenant_id) }
                                td { (label(&org.account_type)) }
                                td { (label(&org.status)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Accepts or declines an invitation addressed to the signed-in person: how an existing
/// account joins another organization (it never sets a password on the way).
pub async fn answer_invitation(
    State(app): State<App>,
    headers: HeaderMap,
    Path((invitation, action)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let signed = match signed_form(&app, &headers, &form.csrf) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.page(),
    };
    let id = match path_id(&invitation, InvitationId, "invitation") {
        Ok(id) => id,
        Err(error) => return error_page(error),
    };
    let (status, notice) = match action.as_str() {
        "accept" => outcome(
            app.accept_invitation(Some(signed.actor), Naming::Id(id), None)
                .await,
            StatusCode::OK,
            |_| Notice::Done("Invitation accepted.".into()),
        ),
        "decline" => outcome(
            app.decline_invitation(signed.actor, id).await,
            StatusCode::OK,
            |()| Notice::Done("Invitation declined.".into()),
        ),
        _ => return error_page(Error::NotFound("action")),
    };
    home_page(&app, &signed, status, Some(notice))
}

pub async fn sign_in_form(headers: HeaderMap) -> Response {
    anonymous_form(&headers, |csrf| sign_in_page(None, "", csrf))
}

fn sign_in_page(notice: Option<&Notice>, email: &str, csrf: &str) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            (notice_of(notice))
            form method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="email" { "E-mail address" }
                input #email type="email" name="email" value=(email) autocomplete="username" required;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p { "Invited? " a href="/console/accept" { "Accept your invitation" } " to set your password." }
            details {
                summary { "Platform operator" }
                form method="post" action="/console/sign-in/operator" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="credential" { "Operator credential" }
                    input #credential type="password" name="credential" autocomplete="off" required;
                    button type="submit" { "Sign in as the operator" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    csrf: String,
}

pub async fn sign_in(
    State(app): State<App>,
    Anonymous(address): Anonymous,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !anonymous_form_sent_here(&headers, &form.csrf) {
        return forbidden_form();
    }
    let again = |status, text: String| {
        let notice = Notice::Refused {
            reason: text,
            fields: Vec::new(),
        };
        page(status, sign_in_page(Some(&notice), &form.email, &form.csrf))
    };
    match app.sign_in(&form.email, &form.password, address).await {
        Ok(signed_in) => session_started(&headers, &signed_in.token),
        Err(Error::SignInFailed) => again(
            StatusCode::UNAUTHORIZED,
            "Wrong e-mail address or password.".into(),
        ),
        Err(error @ Error::RateLimited { .. }) => {
            again(StatusCode::TOO_MANY_REQUESTS, error.to_string())
        }
        Err(error) => error_page(error),
    }
}

/// Signed in: the session's cookie set, the sign-in form's cleared, and off to the home page.
fn session_started(headers: &HeaderMap, session: &Secret) -> Response {
    let tls = cookies::over_tls(headers);
    let mut response = redirect("/console");
    let cookie = cookies::set(cookies::SESSION, session.expose(), SESSION.as_secs(), tls);
    response.headers_mut().append(SET_COOKIE, cookie);
    response
        .headers_mut()
        .append(SET_COOKIE, cookies::set(cookies::SIGN_IN_FORM, "", 0, tls));
    response
}

#[derive(Deserialize)]
pub struct OperatorForm {
    credential: String,
    csrf: String,
}

/// The operator signs in with the operator credential; the browser keeps a session, never
/// the credential.
pub async fn operator_sign_in(
    State(app): State<App>,
    Anonymous(address): Anonymous,
    headers: HeaderMap,
    Form(form): Form<OperatorForm>,
) -> Response {
    if !anonymous_form_sent_here(&headers, &form.csrf) {
        return forbidden_form();
    }
    match app.operator_sign_in(form.credential.trim(), address).await {
        Ok(session) => session_started(&headers, &session),
        Err(error) => {
            let (status, reason) = match error {
                Error::SignInFailed => (
                    StatusCode::UNAUTHORIZED,
                    "That is not the operator credential.".to_owned(),
                ),
                error @ Error::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, error.to_string())
                }
                error => return error_page(error),
            };
            let notice = Notice::Refused {
                reason,
                fields: Vec::new(),
            };
            page(status, sign_in_page(Some(&notice), "", &form.csrf))
        }
    }
}

pub async fn sign_out(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let signed = match signed_form(&app, &headers, &form.csrf) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.page(),
    };
    if let Err(error) = app.sign_out(signed.actor).await {
        return error_page(error);
    }
    let mut response = redirect("/console/sign-in");
    let cleared = cookies::set(cookies::SESSION, "", 0, cookies::over_tls(&headers));
    response.headers_mut().append(SET_COOKIE, cleared);
    response
}

pub async fn accept_form(headers: HeaderMap) -> Response {
    anonymous_form(&headers, |csrf| accept_page(None, csrf))
}

fn accept_page(notice: Option<&Notice>, csrf: &str) -> Markup {
    layout(
        "Accept an invitation",
        None,
        html! {
            (notice_of(notice))
            p { "Paste the invitation token you were given and choose the password you will sign in with (at least "
                (crate::domain::password::MIN_CHARS) " characters)." }
            form method="post" action="/console/accept" {
                input type="hidden" name="csrf" value=(csrf);
                label for="token" { "Invitation token" }
                input #token type="text" name="token" autocomplete="off" required;
                label for="new-password" { "New password" }
                input #new-password type="password" name="password" autocomplete="new-password" required;
                label for="repeat-password" { "The same password again" }
                input #repeat-password type="password" name="repeat" autocomplete="new-password" required;
                button type="submit" { "Accept and set password" }
            }
            p { "Already have an account? " a href="/console/sign-in" { "Sign in" } " and accept it from your organizations page." }
        },
    )
}

#[derive(Deserialize)]
pub struct AcceptForm {
    csrf: String,
    token: String,
    password: String,
    repeat: String,
}

/// A new identity claims itself with the token it was handed and sets its password; then it
/// signs in like anyone else. The API token an acceptance issues is revoked at once: a person
/// who joined through the console holds only their password (and sessions it opens).
pub async fn accept(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Response {
    if !anonymous_form_sent_here(&headers, &form.csrf) {
        return forbidden_form();
    }
    let refused_with =
        |status, notice: Notice| page(status, accept_page(Some(&notice), &form.csrf));
    if form.password != form.repeat {
        return refused_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice::Refused {
                reason: "invalid password".into(),
                fields: vec![("repeat".into(), "the two passwords differ".into())],
            },
        );
    }
    let naming = Naming::Token(form.token.trim().to_owned());
    let accepted = app
        .accept_invitation(None, naming, Some(form.password.clone()))
        .await;
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(error) => {
            let (status, notice) = super::refusal(error);
            return refused_with(status, notice);
        }
    };
    if let Some(token) = accepted.api_token
        && let Ok(actor) = app.authenticate(token.expose())
        && let Err(error) = app.revoke_token(actor, actor.token_id).await
    {
        return error_page(error);
    }
    let email = accepted.user.email.unwrap_or_default();
    let done = Notice::Done(format!(
        "Welcome, {}: your password is set. Sign in with it.",
        accepted.user.name
    ));
    // The sign-in form shown with it keeps this form's value, still mirrored in its cookie.
    page(
        StatusCode::OK,
        sign_in_page(Some(&done), &email, &form.csrf),
    )
}
