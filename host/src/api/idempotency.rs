//! `Idempotency-Key` on creating POSTs: a retry with the same key (same principal, same route,
//! same body) gets the first answer replayed instead of a second effect. Answers are remembered
//! for `idempotency_hours` (default 24 h) by [`crate::app::idempotency`], sealed.
//!
//! The key counts only after authentication: a request without a valid credential is answered
//! by its handler (401) and claims nothing, so keys cannot be used to fill the database without
//! a credential. Only successful answers are remembered: a refused request (403, 409, 422) left
//! nothing behind, and its retry runs again, so a caller who has since been allowed gets the
//! effect. A key reused with another body is refused (422) rather than answered with the first
//! request's answer. A retry that arrives while the first is still running gets 409.
//!
//! The answer is stored right after the effect commits, in its own transaction: a crash between
//! the two would let a retry act again. Closing that gap means writing both in one transaction,
//! which the use cases do not expose yet (ARCHITECTURE.md, "Known gaps").

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::problem::{ApiError, problem};
use crate::app::App;
use crate::app::actor::Actor;

/// A caller this middleware authenticated and counted against its quota.
#[derive(Debug, Clone, Copy)]
pub struct Admitted(pub Actor);

const HEADER: &str = "idempotency-key";
const MAX_KEY: usize = 255;
/// Larger answers are not remembered (none of the creating routes answers this much).
const MAX_STORED_BODY: usize = 1024 * 1024;

#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashSet<String>>>);

/// The caller, when the request carries a valid bearer token.
fn caller(app: &App, req: &Request) -> Option<Actor> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    app.authenticate(token).ok()
}

fn storage_key(principal: &str, path: &str, key: &str) -> String {
    let mut hash = Sha256::new();
    for part in [principal, path, key] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

fn replay(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let mut response =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
        .headers_mut()
        .insert("idempotency-replayed", HeaderValue::from_static("true"));
    response
}

/// The body limit of the request's media type, as its route applies it: the request is read
/// whole to bind the key to it, never more than its route would read.
fn body_limit(app: &App, req: &Request) -> usize {
    let s = &app.settings;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match content_type.split(';').next().unwrap_or_default().trim() {
        "text/csv" => s.csv_body_limit,
        "application/wasm" => s.wasm.max_module_bytes,
        _ => s.json_body_limit,
    }
}

pub async fn middleware(
    State((app, in_flight)): State<(App, InFlight)>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_owned))
    else {
        return next.run(req).await;
    };
    let key = match key {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY => k,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad request",
                json!({"detail": format!("`Idempotency-Key` must be 1 to {MAX_KEY} visible ASCII characters")}),
            );
        }
    };
    let Some(actor) = caller(&app, &req) else {
        return next.run(req).await;
    };
    // The request counts against the caller's quota before its body is read; the route's
    // extractor then takes the caller from here instead of counting it again.
    if let Err(e) = app.admit(actor) {
        return ApiError(e).into_response();
    }
    let mut req = req;
    req.extensions_mut().insert(Admitted(actor));
    let id = storage_key(&actor.principal(), req.uri().path(), &key);
    let limit = body_limit(&app, &req);
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload too large",
            json!({"detail": "the request body is over the size limit"}),
        );
    };
    let request_sha256 = hex::encode(Sha256::digest(&bytes));
    // Claim the key before looking for a stored answer: a first request that finishes in
    // between has stored its answer before releasing the claim, so a retry either finds the
    // claim (409) or the answer (replay), never neither.
    let _claim = match Claim::take(&app, &in_flight, &id).await {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            return problem(
                StatusCode::CONFLICT,
                "conflict",
                json!({"detail": "a request with this Idempotency-Key is still being processed"}),
            );
        }
        Err(e) => return ApiError(e).into_response(),
    };
    match app.remembered(&id) {
        Ok(Some(remembered)) => {
            if !remembered.request_sha256.is_empty() && remembered.request_sha256 != request_sha256
            {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency key reused",
                    json!({"errors": [{"field": "Idempotency-Key", "reason": "was used with another request body; use a new key for a new request"}]}),
                );
            }
            return match app.unseal(&id, &remembered) {
                Some(body) => replay(remembered.status, &remembered.content_type, body),
                None => problem(
                    StatusCode::CONFLICT,
                    "conflict",
                    json!({"detail": "this request was processed already, but its answer cannot be replayed by this server (it was sealed under another server key)"}),
                ),
            };
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not read a remembered answer");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable",
                json!({"detail": "the Idempotency-Key could not be checked; retry shortly"}),
            );
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    remember(&app, id, response, request_sha256).await
}

/// A key being processed; released when dropped, also if the request's task is cancelled.
/// On the embedded file one process holds the store, so the claim is in its memory; on a
/// shared store it is a record every server sees (`App::claim_idempotency_key`).
enum Claim<'a> {
    Local { in_flight: &'a InFlight, id: String },
    Shared { app: Box<App>, id: String },
}

impl<'a> Claim<'a> {
    async fn take(app: &App, in_flight: &'a InFlight, id: &str) -> crate::Result<Option<Self>> {
        if app.store.is_shared() {
            let claimed = app.claim_idempotency_key(id.to_owned()).await?;
            return Ok(claimed.then(|| Self::Shared {
                app: Box::new(app.clone()),
                id: id.to_owned(),
            }));
        }
        let mut running = in_flight.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(running.insert(id.to_owned()).then(|| Self::Local {
            in_flight,
            id: id.to_owned(),
        }))
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        match self {
            Self::Local { in_flight, id } => {
                let mut running = in_flight.0.lock().unwrap_or_else(|e| e.into_inner());
                running.remove(id.as_str());
            }
            Self::Shared { app, id } => {
                let (app, id) = (App::clone(app), std::mem::take(id));
                // A release that never runs (the process is stopping) expires with its lease.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        if let Err(e) = app.release_idempotency_key(id).await {
                            tracing::warn!(error = %e, "an Idempotency-Key claim stays until its lease ends");
                        }
                    });
                }
            }
        }
    }
}

async fn remember(app: &App, id: String, response: Response, request_sha256: String) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let status = response.status();
    let (parts, body) = response.into_parts();
    // The answer is in memory already (handlers build JSON); only a large one is not kept.
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            json!(null),
        );
    };
    if bytes.len() > MAX_STORED_BODY {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    if let Err(e) = app
        .remember(id, status.as_u16(), content_type, &bytes, request_sha256)
        .await
    {
        tracing::warn!(error = %e, "could not remember an idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}
