//! The web console, served by the same binary under `/console`: server-rendered HTML over the
//! same use cases as the API (no second path to the data), no JavaScript.
//!
//! A person signs in with e-mail and password (`app::sign_in`); the session token lives in an
//! `HttpOnly`, `SameSite=Strict` cookie. Every form carries an anti-forgery value: for the
//! sign-in form a random one mirrored in a cookie of its own, for a signed-in person a digest
//! of their session token (which no other site can read), so it holds on every server without
//! a shared key. A post whose `Origin` is another site is refused too. Pages forbid scripts
//! outright (`Content-Security-Policy: default-src 'none'`), are never cached, and never framed.

mod account;
mod connect;
mod cookies;
mod customers;
mod handovers;
mod import;
mod invitations;
mod members;
mod organization;
mod pages;
mod plans;
mod playground;
mod plugins;
mod resources;
mod sessions;
mod support;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, LOCATION, ORIGIN, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::app::actor::Actor;
use crate::domain::ids::OrgId;
use crate::domain::secret::digests_match;
use crate::error::Error;
use pages::Notice;

const STYLE: &str = include_str!("style.css");
const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

/// The console's routes; `component_limit` bounds a plugin upload's body (the API's limit for
/// a component, plus room for the form around it), `form_limit` every other form.
pub fn router(form_limit: usize, component_limit: usize) -> Router<App> {
    let uploads = Router::new()
        .route(
            "/console/orgs/{org}/policies/{hook}/plugins",
            post(plugins::upload),
        )
        .layer(DefaultBodyLimit::max(component_limit + 64 * 1024));
    Router::new()
        .route("/console", get(account::home))
        .route("/console/style.css", get(style))
        .route(
            "/console/sign-in",
            get(account::sign_in_form).post(account::sign_in),
        )
        .route("/console/sign-in/operator", post(account::operator_sign_in))
        .route("/console/sign-out", post(account::sign_out))
        .route(
            "/console/accept",
            get(account::accept_form).post(account::accept),
        )
        .route(
            "/console/invitations/{invitation}/{action}",
            post(account::answer_invitation),
        )
        .route("/console/sessions", get(sessions::show))
        .route("/console/sessions/{session}/end", post(sessions::end))
        .route("/console/password", post(sessions::change_password))
        .route("/console/orgs/{org}", get(members::show))
        .route("/console/orgs/{org}/members", post(members::invite))
        .route(
            "/console/orgs/{org}/approval/{to}",
            post(organization::approval),
        )
        .route(
            "/console/orgs/{org}/status/{to}",
            post(organization::status),
        )
        .route("/console/orgs/{org}/delete", post(organization::delete))
        .route("/console/orgs/{org}/managed-by", post(handovers::switch))
        .route("/console/orgs/{org}/ownership", post(handovers::transfer))
        .route(
            "/console/orgs/{org}/change-requests/{request}/{action}",
            post(handovers::answer),
        )
        .route(
            "/console/orgs/{org}/members/{user}/pin",
            post(members::new_pin),
        )
        .route(
            "/console/orgs/{org}/members/{user}/password-reset",
            post(members::reset_password),
        )
        .route("/console/orgs/{org}/members/import", post(import::import))
        .route(
            "/console/orgs/{org}/members/import/sample.csv",
            get(import::sample),
        )
        .route(
            "/console/orgs/{org}/invitations/{invitation}/{action}",
            post(invitations::act),
        )
        .route("/console/orgs/{org}/teams", post(resources::create_team))
        .route(
            "/console/orgs/{org}/channels",
            post(resources::create_channel),
        )
        .route(
            "/console/orgs/{org}/customers",
            get(customers::show).post(customers::create),
        )
        .route(
            "/console/orgs/{org}/plans",
            get(plans::show).post(plans::create),
        )
        .route("/console/orgs/{org}/plans/{plan}/edit", post(plans::edit))
        .route(
            "/console/orgs/{org}/plans/{plan}/retire",
            post(plans::retire),
        )
        .route("/console/orgs/{org}/connect", get(connect::show))
        .route("/console/orgs/{org}/links", post(connect::link))
        .route(
            "/console/orgs/{org}/links/{link}/{action}",
            post(connect::act),
        )
        .route("/console/orgs/{org}/shares", post(connect::share))
        .route(
            "/console/orgs/{org}/shares/{share}/revoke",
            post(connect::revoke),
        )
        .route(
            "/console/orgs/{org}/policies/{hook}",
            get(playground::show).post(playground::run),
        )
        .route(
            "/console/orgs/{org}/policies/{hook}/rollback/{number}",
            post(playground::rollback),
        )
        .route(
            "/console/orgs/{org}/policies/{hook}/plugin-binding",
            post(plugins::bind),
        )
        .route(
            "/console/orgs/{org}/remote-support",
            get(support::show).post(support::request),
        )
        .route(
            "/console/orgs/{org}/remote-support/{request}/{action}",
            post(support::act),
        )
        .layer(DefaultBodyLimit::max(form_limit))
        .merge(uploads)
}

/// Whether `path` is the console's plugin upload, which may take the upload time limit.
pub fn is_upload(path: &str) -> bool {
    path.starts_with("/console/orgs/") && path.ends_with("/plugins")
}

/// Someone signed in: who, and the anti-forgery value of their forms.
struct Signed {
    actor: Actor,
    csrf: String,
}

/// The anti-forgery value of a session's forms: a digest of its secret.
fn form_token(session: &str) -> String {
    hex::encode(Sha256::digest(
        format!("tenantry console form v1:{session}").as_bytes(),
    ))
}

/// The signed-in person; `Error::Unauthorized` when nobody is (see [`refused`]).
fn signed(app: &App, headers: &HeaderMap) -> Result<Signed, Error> {
    let token = cookies::read(headers, cookies::SESSION).ok_or(Error::Unauthorized)?;
    let actor = app.authenticate(token)?;
    app.admit(actor)?;
    Ok(Signed {
        actor,
        csrf: form_token(token),
    })
}

/// The answer to a page that could not be shown: to sign in when nobody is signed in.
fn refused(error: Error) -> Response {
    match error {
        Error::Unauthorized => redirect("/console/sign-in"),
        other => error_page(other),
    }
}

/// Why a page or a form was not taken up.
enum Refusal {
    /// Nobody is signed in, or the session could not be read.
    NotSigned(Error),
    /// The form came from elsewhere: no anti-forgery value, a wrong one, or another origin.
    Forged,
    /// What the path names is not there (or not for this person).
    Unknown(Error),
}

impl Refusal {
    fn page(self) -> Response {
        match self {
            Self::NotSigned(error) => refused(error),
            Self::Forged => forbidden_form(),
            Self::Unknown(error) => error_page(error),
        }
    }
}

/// The signed-in person who sent a form, if it carries their anti-forgery value `csrf` and
/// came from this site.
fn signed_form(app: &App, headers: &HeaderMap, csrf: &str) -> Result<Signed, Refusal> {
    let signed = signed(app, headers).map_err(Refusal::NotSigned)?;
    if !from_here(headers) || !digests_match(&signed.csrf, csrf) {
        return Err(Refusal::Forged);
    }
    Ok(signed)
}

/// Whether a form was posted from here: refused when its `Origin` names another host.
fn from_here(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (headers.get(ORIGIN), headers.get(HOST)) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin_host.as_bytes() == host.as_bytes()
}

fn forbidden_form() -> Response {
    page(
        StatusCode::FORBIDDEN,
        pages::message(
            "Form refused",
            "This form was not sent from this console page (its anti-forgery value is missing or wrong). Open the page again and resend it.",
        ),
    )
}

fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with the page's own forms.
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

fn redirect(to: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    response
}

/// The status the API answers for `error` (from its problem+json, so the two never differ).
fn status_of(error: Error) -> StatusCode {
    crate::api::problem::ApiError(error)
        .into_response()
        .status()
}

/// An error of a use case as a page: the status the API would answer, and what it says.
fn error_page(error: Error) -> Response {
    let text = error.to_string();
    let status = status_of(error);
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
        _ => "Refused",
    };
    page(status, pages::message(title, &text))
}

async fn style() -> Response {
    let mut response = STYLE.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/css"));
    response
}

/// The organization a console path names.
fn org_id(text: &str) -> Result<OrgId, Error> {
    path_id(text, OrgId, "organization")
}

/// The id a console path names; a malformed one is as unknown as a missing one.
fn path_id<T>(text: &str, id: fn(uuid::Uuid) -> T, what: &'static str) -> Result<T, Error> {
    uuid::Uuid::parse_str(text)
        .map(id)
        .map_err(|_| Error::NotFound(what))
}

/// What a form's use case answered, for the page shown next: `done` on success (with
/// `status`), the refusal's reason and each field's problem otherwise, with the status the API
/// would answer.
fn outcome<T>(
    result: Result<T, Error>,
    status: StatusCode,
    done: impl FnOnce(T) -> Notice,
) -> (StatusCode, Notice) {
    match result {
        Ok(value) => (status, done(value)),
        Err(error) => refusal(error),
    }
}

/// A use case's refusal as the page tells it: the reason (a policy's, a rule's) and each
/// field's or row's problem, with the status the API would answer.
fn refusal(error: Error) -> (StatusCode, Notice) {
    let notice = match &error {
        Error::Forbidden { reason, .. } => Notice::Refused {
            reason: reason.clone(),
            fields: Vec::new(),
        },
        Error::Invalid { title, fields } | Error::Exceeded { title, fields } => Notice::Refused {
            reason: title.clone(),
            fields: fields
                .iter()
                .map(|f| (f.field.clone(), f.reason.clone()))
                .collect(),
        },
        Error::InvalidRows { title, rows } => Notice::Refused {
            reason: title.clone(),
            fields: rows
                .iter()
                .map(|r| (format!("line {}, {}", r.row, r.column), r.reason.clone()))
                .collect(),
        },
        other => Notice::Refused {
            reason: other.to_string(),
            fields: Vec::new(),
        },
    };
    (status_of(error), notice)
}

/// A random value for an anonymous form (sign-in, accepting an invitation), mirrored in the
/// form's own cookie: another site can neither read the cookie nor set it.
fn anonymous_form(headers: &HeaderMap, markup: impl FnOnce(&str) -> Markup) -> Response {
    let csrf = match crate::domain::secret::new_token("") {
        Ok(secret) => secret.expose().to_owned(),
        Err(error) => return error_page(error),
    };
    let mut response = page(StatusCode::OK, markup(&csrf));
    let cookie = cookies::set(
        cookies::SIGN_IN_FORM,
        &csrf,
        3_600,
        cookies::over_tls(headers),
    );
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// Whether an anonymous form carries the value its cookie mirrors, and came from here.
fn anonymous_form_sent_here(headers: &HeaderMap, csrf: &str) -> bool {
    let mirrored = cookies::read(headers, cookies::SIGN_IN_FORM);
    from_here(headers) && mirrored.is_some_and(|cookie| digests_match(cookie, csrf))
}

/// A form's anti-forgery value alone (sign out, the buttons of a list).
#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

/// The signed-in person looking at organization `org` (as its path names it).
fn viewer_of(app: &App, headers: &HeaderMap, org: &str) -> Result<(Signed, OrgId), Refusal> {
    let signed = signed(app, headers).map_err(Refusal::NotSigned)?;
    Ok((signed, org_id(org).map_err(Refusal::Unknown)?))
}

/// The signed-in person who sent a form about organization `org`, if the form is theirs.
fn sender_for(
    app: &App,
    headers: &HeaderMap,
    csrf: &str,
    org: &str,
) -> Result<(Signed, OrgId), Refusal> {
    let signed = signed_form(app, headers, csrf)?;
    Ok((signed, org_id(org).map_err(Refusal::Unknown)?))
}

/// [`sender_for`] a form about one item of the organization (a link, a request, a member),
/// which the path names by its id.
fn sender_for_item<T>(
    app: &App,
    headers: &HeaderMap,
    csrf: &str,
    (org, item): (&str, &str),
    id: fn(uuid::Uuid) -> T,
    what: &'static str,
) -> Result<(Signed, OrgId, T), Refusal> {
    let (signed, org) = sender_for(app, headers, csrf, org)?;
    let item = path_id(item, id, what).map_err(Refusal::Unknown)?;
    Ok((signed, org, item))
}
