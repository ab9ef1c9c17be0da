//! The one HTTP error type: every library error becomes an RFC 9457 problem+json answer.
//! A 500 says only "internal error"; the cause goes to the log with the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::Error;
use crate::storage::StorageError;

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn problem(status: StatusCode, title: &str, extra: Value) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::NotFound(what) => problem(
                StatusCode::NOT_FOUND,
                &format!("{what} not found"),
                Value::Null,
            ),
            Error::Invalid { title, fields } => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &title,
                json!({"errors": fields}),
            ),
            Error::InvalidRows { title, rows } => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &title,
                json!({"errors": rows}),
            ),
            Error::BadRequest(detail) => problem(
                StatusCode::BAD_REQUEST,
                "bad request",
                json!({"detail": detail}),
            ),
            Error::Exceeded { title, fields } => {
                let detail = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.reason))
                    .collect::<Vec<_>>()
                    .join("; ");
                problem(
                    StatusCode::CONFLICT,
                    &title,
                    json!({"detail": detail, "errors": fields}),
                )
            }
            Error::Conflict(detail) => {
                problem(StatusCode::CONFLICT, "conflict", json!({"detail": detail}))
            }
            Error::Gone(detail) => problem(StatusCode::GONE, "gone", json!({"detail": detail})),
            Error::Forbidden { reason, layer } => problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                json!({"detail": reason, "policy_layer": layer}),
            ),
            Error::Unauthorized => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    json!({"detail": "missing, invalid or revoked bearer token"}),
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Error::SignInFailed => problem(
                StatusCode::UNAUTHORIZED,
                "sign-in failed",
                json!({"detail": "wrong e-mail address or password"}),
            ),
            Error::FixturesFailed(cases) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "policy version failed its fixtures",
                json!({"detail": "the previous version stays active", "errors": cases}),
            ),
            Error::TooLarge(detail) => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload too large",
                json!({"detail": detail}),
            ),
            Error::RateLimited { what, retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                let mut response = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests",
                    json!({"detail": format!("{what} is used up; retry after {seconds} s")}),
                );
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, seconds.into());
                response
            }
            Error::Busy(detail) => {
                let mut response = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests",
                    json!({"detail": detail}),
                );
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, 1.into());
                response
            }
            Error::SignInRequired(detail) => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "sign-in required",
                    json!({"detail": detail}),
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Error::Storage(StorageError::Unavailable) => {
                let mut response = problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable",
                    json!({"detail": "storage is recovering from an I/O error; retry shortly"}),
                );
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, 1.into());
                response
            }
            Error::Storage(StorageError::Full) => {
                tracing::error!("write refused: disk full");
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage full",
                    json!({"detail": "the server's disk is full; writes are refused until space returns"}),
                )
            }
            other => {
                tracing::error!(error = %other, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                    Value::Null,
                )
            }
        }
    }
}
