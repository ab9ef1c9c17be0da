//! The web console, served by the same binary under `/console`: server-rendered HTML over the
//! same use cases as the API (no second path to the data), no JavaScript.
//!
//! A person signs in with e-mail and password (`app::sign_in`); the session token lives in an
//! `HttpOnly`, `SameSite=Strict` cookie. Every form carries an anti-forgery value: for the
//! sign-in form a random one mirrored in a cookie of its own, for a signed-in person a digest
//! of their session token (which no other site can read), so it holds on every server without
//! a shared key. A post whose `Origin` is another site is refused too. Pages forbid scripts
//! outright (`Content-Security-Policy: default-src 'none'`), are never cached, and never framed.

mod cookies;
mod pages;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, LOCATION, ORIGIN, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::extract::Anonymous;
use crate::app::actor::Actor;
use crate::app::members::{InviteBody, MemberFilter};
use crate::app::sign_in::SESSION;
use crate::app::{App, PageRequest};
use crate::domain::ids::OrgId;
use crate::domain::secret::digests_match;
use crate::error::Error;
use pages::Notice;

const STYLE: &str = include_str!("style.css");
const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<App> {
    Router::new()
        .route("/console", get(home))
        .route("/console/style.css", get(style))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/orgs/{org}", get(organization))
        .route("/console/orgs/{org}/members", post(invite))
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

/// Why a signed-in form was not taken.
enum FormRefused {
    /// Nobody is signed in, or the session could not be read.
    NotSigned(Error),
    /// The form came from elsewhere: no anti-forgery value, a wrong one, or another origin.
    Forged,
}

impl FormRefused {
    fn page(self) -> Response {
        match self {
            Self::NotSigned(error) => refused(error),
            Self::Forged => forbidden_form(),
        }
    }
}

/// The signed-in person who sent a form, if it carries their anti-forgery value `csrf` and
/// came from this site.
fn signed_form(app: &App, headers: &HeaderMap, csrf: &str) -> Result<Signed, FormRefused> {
    let signed = signed(app, headers).map_err(FormRefused::NotSigned)?;
    if !from_here(headers) || !digests_match(&signed.csrf, csrf) {
        return Err(FormRefused::Forged);
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

async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    let signed = match signed(&app, &headers) {
        Ok(signed) => signed,
        Err(error) => return refused(error),
    };
    let page_request = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    match app.list_orgs(signed.actor, page_request) {
        Ok(orgs) => page(
            StatusCode::OK,
            pages::organizations(&orgs.items, &signed.csrf),
        ),
        Err(error) => error_page(error),
    }
}

async fn sign_in_form(headers: HeaderMap) -> Response {
    let csrf = match crate::domain::secret::new_token("") {
        Ok(secret) => secret.expose().to_owned(),
        Err(error) => return error_page(error),
    };
    let mut response = page(StatusCode::OK, pages::sign_in(None, "", &csrf));
    let cookie = cookies::set(
        cookies::SIGN_IN_FORM,
        &csrf,
        3_600,
        cookies::over_tls(&headers),
    );
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    csrf: String,
}

async fn sign_in(
    State(app): State<App>,
    Anonymous(address): Anonymous,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let mirrored = cookies::read(&headers, cookies::SIGN_IN_FORM);
    if !from_here(&headers) || !mirrored.is_some_and(|cookie| digests_match(cookie, &form.csrf)) {
        return forbidden_form();
    }
    let again =
        |status, text: &str| page(status, pages::sign_in(Some(text), &form.email, &form.csrf));
    match app.sign_in(&form.email, &form.password, address).await {
        Ok(signed_in) => {
            let tls = cookies::over_tls(&headers);
            let mut response = redirect("/console");
            let session = cookies::set(
                cookies::SESSION,
                signed_in.token.expose(),
                SESSION.as_secs(),
                tls,
            );
            response.headers_mut().append(SET_COOKIE, session);
            response
                .headers_mut()
                .append(SET_COOKIE, cookies::set(cookies::SIGN_IN_FORM, "", 0, tls));
            response
        }
        Err(Error::SignInFailed) => again(
            StatusCode::UNAUTHORIZED,
            "Wrong e-mail address or password.",
        ),
        Err(error @ Error::RateLimited { .. }) => {
            again(StatusCode::TOO_MANY_REQUESTS, &error.to_string())
        }
        Err(error) => error_page(error),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn sign_out(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let signed = match signed_form(&app, &headers, &form.csrf) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.page(),
    };
    if let Err(error) = app.revoke_token(signed.actor, signed.actor.token_id).await {
        return error_page(error);
    }
    let mut response = redirect("/console/sign-in");
    let cleared = cookies::set(cookies::SESSION, "", 0, cookies::over_tls(&headers));
    response.headers_mut().append(SET_COOKIE, cleared);
    response
}

fn org_id(text: &str) -> Result<OrgId, Error> {
    uuid::Uuid::parse_str(text)
        .map(OrgId)
        .map_err(|_| Error::NotFound("organization"))
}

/// The organization page, with `notice` from the form just sent.
fn organization_page(
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
    let page_request = PageRequest {
        limit: App::MAX_PAGE,
        after: None,
    };
    let members = app.list_members(signed.actor, org.id, &MemberFilter::default(), page_request);
    let refusal;
    let members = match &members {
        Ok(page) => Ok(page.items.as_slice()),
        Err(error) => {
            refusal = error.to_string();
            Err(refusal.as_str())
        }
    };
    page(
        status,
        pages::organization(&org, members, notice.as_ref(), &signed.csrf),
    )
}

async fn organization(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Response {
    let signed = match signed(&app, &headers) {
        Ok(signed) => signed,
        Err(error) => return refused(error),
    };
    match org_id(&org) {
        Ok(org) => organization_page(&app, &signed, org, StatusCode::OK, None),
        Err(error) => error_page(error),
    }
}

#[derive(Deserialize)]
struct InviteForm {
    csrf: String,
    name: String,
    email: String,
    role: String,
}

async fn invite(
    State(app): State<App>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<InviteForm>,
) -> Response {
    let signed = match signed_form(&app, &headers, &form.csrf) {
        Ok(signed) => signed,
        Err(refusal) => return refusal.page(),
    };
    let org = match org_id(&org) {
        Ok(org) => org,
        Err(error) => return error_page(error),
    };
    let body = InviteBody {
        name: Some(form.name.clone()),
        email: Some(form.email),
        role: Some(form.role),
        portal_access: Some(true),
        team_ids: None,
        pin: None,
        extension: None,
    };
    let (status, notice) = match app.invite_member(signed.actor, org, body).await {
        Ok(added) => (
            StatusCode::CREATED,
            Notice::Invited {
                name: added.user.name,
                token: added.invitation_token.map(|t| t.expose().to_owned()),
            },
        ),
        Err(Error::Forbidden { reason, .. }) => (
            StatusCode::FORBIDDEN,
            Notice::Refused {
                reason,
                fields: Vec::new(),
            },
        ),
        Err(Error::Invalid { title, fields }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice::Refused {
                reason: title,
                fields: fields.into_iter().map(|f| (f.field, f.reason)).collect(),
            },
        ),
        Err(error @ Error::NotFound(_)) => return error_page(error),
        Err(error) => {
            let reason = error.to_string();
            (
                status_of(error),
                Notice::Refused {
                    reason,
                    fields: Vec::new(),
                },
            )
        }
    };
    organization_page(&app, &signed, org, status, Some(notice))
}
