//! Operational routes: health, readiness, metrics, backup.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::extract::Auth;
use super::problem::{ApiError, problem};
use crate::app::App;
use crate::app::health::Degraded;

/// The server answers.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Whether the server serves fully, and what is degraded when not.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Readiness {
    /// `ready`, or `degraded` when `degraded` lists something.
    status: &'static str,
    degraded: Vec<Degraded>,
}

/// 200 while the server serves, with what is degraded (a platform file that does not load,
/// quarantined tenant policies, writes not reaching the disk); 503 when storage cannot be read.
pub async fn readyz(State(app): State<App>) -> Result<Json<Readiness>, axum::response::Response> {
    match app
        .store
        .read(|view| Ok(view.meta("schema_version")?.is_some()))
    {
        Ok(true) => {
            let degraded = app.degraded();
            let status = if degraded.is_empty() {
                "ready"
            } else {
                "degraded"
            };
            Ok(Json(Readiness { status, degraded }))
        }
        _ => Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
            json!({"detail": "storage is not usable"}),
        )),
    }
}

pub async fn metrics(State(app): State<App>) -> axum::response::Response {
    // The degraded gauges are read now, not kept up to date on every change.
    app.degraded();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// The whole store as one redb file, streamed from a consistent snapshot.
pub async fn backup(State(app): State<App>, Auth(actor): Auth) -> axum::response::Response {
    let backup = match app.backup(actor).await {
        Ok(b) => b,
        Err(e) => return ApiError(e).into_response(),
    };
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(backup.file));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, backup.len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tenantry.redb\"".to_owned(),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}
