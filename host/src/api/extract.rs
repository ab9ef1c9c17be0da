//! Request extractors whose every rejection is a problem+json answer naming what was wrong.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

use super::idempotency::Admitted;
use super::problem::{ApiError, problem};
use crate::app::actor::Actor;
use crate::app::{App, PageRequest};
use crate::error::{Error, FieldError};

/// The authenticated caller.
pub struct Auth(pub Actor);

/// The address a request came from, when the server knows it.
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The caller of a request that sent a bearer token: `None` without one. A bad or revoked
/// token is 401, and counts against the address's quota, so guessing tokens costs the guesser.
fn bearer(parts: &mut Parts, app: &App) -> Result<Option<Actor>, ApiError> {
    if let Some(Admitted(actor)) = parts.extensions.get::<Admitted>().copied() {
        parts.extensions.insert(actor);
        return Ok(Some(actor));
    }
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match token.map(|t| app.authenticate(t)) {
        Some(Ok(actor)) => {
            app.admit(actor)?;
            parts.extensions.insert(actor);
            Ok(Some(actor))
        }
        // The token could not be looked up (storage unavailable): say so, not that it is
        // invalid, or a client would throw a good credential away.
        Some(Err(e)) if !matches!(e, Error::Unauthorized) => Err(e.into()),
        _ => {
            app.admit_address(client_address(parts))?;
            Err(Error::Unauthorized.into())
        }
    }
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        match bearer(parts, app)? {
            Some(actor) => Ok(Auth(actor)),
            None => {
                app.admit_address(client_address(parts))?;
                Err(Error::Unauthorized.into())
            }
        }
    }
}

/// The caller if it sent a bearer token (which must then be valid), else nobody; a request
/// without one counts against its address's quota.
pub struct MaybeAuth(pub Option<Actor>);

impl FromRequestParts<App> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let actor = bearer(parts, app)?;
        if actor.is_none() {
            app.admit_address(client_address(parts))?;
        }
        Ok(MaybeAuth(actor))
    }
}

/// A request made without a credential (signing in), counted against its address's quota;
/// the address, for the route's own counts.
pub struct Anonymous(pub Option<IpAddr>);

impl FromRequestParts<App> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let address = client_address(parts);
        app.admit_address(address)?;
        Ok(Anonymous(address))
    }
}

/// A JSON body: `application/json`, within the size limit, well-formed, no unknown fields.
pub struct JsonBody<T>(pub T);

fn body_rejection(rejection: BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload too large",
            json!({"detail": "the request body is over the size limit"}),
        );
    }
    problem(
        StatusCode::BAD_REQUEST,
        "bad request",
        json!({"detail": rejection.body_text()}),
    )
}

/// Reads the body when the content type is `expected`.
pub async fn body_of(req: Request, app: &App, expected: &str) -> Result<Bytes, Response> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(expected) {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            json!({"detail": format!("expected `Content-Type: {expected}`, got `{content_type}`")}),
        ));
    }
    Bytes::from_request(req, app).await.map_err(body_rejection)
}

impl<T: DeserializeOwned> FromRequest<App> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let bytes = body_of(req, app, "application/json").await?;
        parse_json(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError(e).into_response())
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return Error::BadRequest(format!("malformed JSON: {inner}"));
        }
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Error::invalid(
            "request body is invalid",
            vec![FieldError::new(field, strip_position(&inner.to_string()))],
        )
    })?;
    de.end()
        .map_err(|e| Error::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters, each unknown or malformed one answered with 400.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<App> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, app)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|e| {
                ApiError(Error::BadRequest(format!(
                    "query string: {}",
                    e.body_text()
                )))
            })
    }
}

/// `limit` and `cursor` of every list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    pub cursor: Option<String>,
}

impl Paging {
    pub fn page(&self) -> Result<PageRequest, Error> {
        let limit = self.limit.unwrap_or(App::DEFAULT_PAGE);
        if !(1..=App::MAX_PAGE).contains(&limit) {
            return Err(Error::field(
                "query is invalid",
                "limit",
                format!("must be 1 to {}", App::MAX_PAGE),
            ));
        }
        let after = match &self.cursor {
            Some(c) => Some(
                Uuid::parse_str(c)
                    .map_err(|_| {
                        Error::BadRequest(format!("cursor `{c}` is not one this server gave out"))
                    })?
                    .as_u128(),
            ),
            None => None,
        };
        Ok(PageRequest { limit, after })
    }
}

/// Parses an id from the path; a malformed one is 400, not 404.
pub fn parse_id<T>(text: &str, make: fn(Uuid) -> T) -> Result<T, ApiError> {
    Uuid::parse_str(text).map(make).map_err(|_| {
        ApiError(Error::BadRequest(format!(
            "`{text}` is not a valid id (a UUID)"
        )))
    })
}
