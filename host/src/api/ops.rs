//! Operational routes: health, readiness, metrics, backup.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::extract::Auth;
use super::problem::{ApiError, problem};
use crate::app::App;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 while the server serves, with what is degraded (a platform file that does not load,
/// quarantined tenant policies, writes not reaching the disk); 503 when storage cannot be read.
pub async fn readyz(State(app): State<App>) -> impl IntoResponse {
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
            let body = json!({"status": status, "degraded": degraded});
            (StatusCode::OK, Json(body)).into_response()
        }
        _ => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
            json!({"detail": "storage is not usable"}),
        ),
    }
}

pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    // The degraded gauges are read now, not kept up to date on every change.
    app.degraded();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(),
    )
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
