//! The person's sessions and password: every session signed in (where it started is not
//! kept; when, and until when), ending any of them, and changing the password, which ends the
//! others.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{Notice, button, layout, notice_of, when};
use super::{CsrfOnly, Signed, error_page, outcome, page, path_id, refused, signed, signed_form};
use crate::app::App;
use crate::app::tokens::TokenView;
use crate::domain::ids::TokenId;

pub async fn show(State(app): State<App>, headers: HeaderMap) -> Response {
    match signed(&app, &headers) {
        Ok(signed) => screen(&app, &signed, StatusCode::OK, None),
        Err(error) => refused(error),
    }
}

fn screen(app: &App, signed: &Signed, status: StatusCode, notice: Option<Notice>) -> Response {
    let sessions = match app.sessions(signed.actor) {
        Ok(sessions) => sessions,
        Err(error) => return error_page(error),
    };
    page(status, sessions_page(&sessions, signed, notice.as_ref()))
}

fn sessions_page(sessions: &[TokenView], signed: &Signed, notice: Option<&Notice>) -> Markup {
    layout(
        "Sessions and password",
        Some(&signed.csrf),
        html! {
            (notice_of(notice))
            section aria-labelledby="sessions" {
                h2 #sessions { "Where you are signed in" }
                p.muted { "A session ends 12 hours after signing in, or after 30 minutes unused." }
                table {
                    thead { tr { th scope="col" { "Signed in" } th scope="col" { "Ends at the latest" } th scope="col" { "Ends if unused until" } th scope="col" { "" } } }
                    tbody {
                        @for session in sessions {
                            tr {
                                td { (when(session.created_at)) }
                                td { @if let Some(end) = session.expires_at { (when(end)) } }
                                td { @if let Some(idle) = session.idle_until { (when(idle)) } }
                                td {
                                    @if session.id == signed.actor.token_id {
                                        "this session"
                                    } @else {
                                        (button(&format!("/console/sessions/{}/end", session.id), "Sign out there", &signed.csrf))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if signed.actor.user_id.is_some() { section aria-labelledby="password" {
                h2 #password { "Change your password" }
                form method="post" action="/console/password" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    label for="current-password" { "Current password" }
                    input #current-password type="password" name="current" autocomplete="current-password" required;
                    label for="new-password" { "New password (at least " (crate::domain::password::MIN_CHARS) " characters)" }
                    input #new-password type="password" name="new" autocomplete="new-password" required;
                    label for="repeat-password" { "The new password again" }
                    input #repeat-password type="password" name="repeat" autocomplete="new-password" required;
                    button type="submit" { "Change password" }
                }
            } }
        },
    )
}

pub async fn end(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let signed = match signed_form(&app, &headers, &form.csrf) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.page(),
    };
    let id = match path_id(&id, TokenId, "session") {
        Ok(id) => id,
        Err(error) => return error_page(error),
    };
    let (status, notice) = outcome(
        app.revoke_token(signed.actor, id).await,
        StatusCode::OK,
        |()| Notice::Done("That session is signed out.".into()),
    );
    screen(&app, &signed, status, Some(notice))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    repeat: String,
}

pub async fn change_password(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let signed = match signed_form(&app, &headers, &form.csrf) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.page(),
    };
    let (status, notice) = if form.new == form.repeat {
        outcome(
            app.change_password(signed.actor, Some(&form.current), &form.new)
                .await,
            StatusCode::OK,
            |()| {
                Notice::Done("Your password is changed; your other sessions are signed out.".into())
            },
        )
    } else {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice::Refused {
                reason: "invalid password".into(),
                fields: vec![("repeat".into(), "the two new passwords differ".into())],
            },
        )
    };
    screen(&app, &signed, status, Some(notice))
}
