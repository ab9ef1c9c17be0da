//! `Idempotency-Key` on creating POSTs: a retry with the same key (same caller, same route)
//! gets the first answer replayed instead of a second effect. Answers are remembered for
//! `idempotency_hours` (default 24 h). A retry that arrives while the first is still running
//! gets 409.
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
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::problem::problem;
use crate::app::App;
use crate::domain::clock::Timestamp;
use crate::storage::tables;

const HEADER: &str = "idempotency-key";
const MAX_KEY: usize = 255;
/// Larger answers are not remembered (none of the creating routes answers this much).
const MAX_STORED_BODY: usize = 1024 * 1024;

#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashSet<String>>>);

#[derive(Serialize, Deserialize)]
struct Stored {
    status: u16,
    content_type: String,
    body: String,
    at: Timestamp,
}

fn storage_key(req: &Request, key: &str) -> String {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(auth);
    hash.update([0]);
    hash.update(req.uri().path().as_bytes());
    hash.update([0]);
    hash.update(key.as_bytes());
    hex::encode(hash.finalize())
}

fn replay(stored: Stored) -> Response {
    let mut response = (
        StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
        stored.body,
    )
        .into_response();
    if let Ok(ct) = HeaderValue::from_str(&stored.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
        .headers_mut()
        .insert("idempotency-replayed", HeaderValue::from_static("true"));
    response
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
    let id = storage_key(&req, &key);
    // Claim the key before looking for a stored answer: a first request that finishes in
    // between has stored its answer before releasing the claim, so a retry either finds the
    // claim (409) or the answer (replay), never neither.
    let Some(_claim) = Claim::take(&in_flight, &id) else {
        return problem(
            StatusCode::CONFLICT,
            "conflict",
            json!({"detail": "a request with this Idempotency-Key is still being processed"}),
        );
    };
    let now = app.clock.now();
    let ttl = std::time::Duration::from_secs(app.settings.idempotency_hours * 3600);
    let found = app
        .store
        .read(|view| Ok(view.keyed::<Stored>(tables::IDEMPOTENCY, &id)?));
    if let Ok(Some(stored)) = found
        && stored.at.plus(ttl) > now
    {
        return replay(stored);
    }
    let response = next.run(req).await;
    remember(&app, &id, response, now).await
}

/// A key being processed; released when dropped, also if the request's task is cancelled.
struct Claim<'a> {
    in_flight: &'a InFlight,
    id: String,
}

impl<'a> Claim<'a> {
    fn take(in_flight: &'a InFlight, id: &str) -> Option<Self> {
        let mut running = in_flight.0.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(id.to_owned()).then(|| Self {
            in_flight,
            id: id.to_owned(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut running = self.in_flight.0.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&self.id);
    }
}

async fn remember(app: &App, id: &str, response: Response, now: Timestamp) -> Response {
    let status = response.status();
    if status.is_server_error() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_STORED_BODY).await else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            json!(null),
        );
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let stored = Stored {
        status: status.as_u16(),
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        at: now,
    };
    let id = id.to_owned();
    let written = app
        .store
        .write(move |tx| Ok(tx.put_keyed(tables::IDEMPOTENCY, &id, &stored)?))
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not remember an idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}
