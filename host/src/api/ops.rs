//! Operational routes: health, readiness, metrics, the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::extract::Auth;
use super::problem::{ApiError, problem};
use super::routes::{RouteDoc, table};
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

pub async fn openapi() -> Json<Value> {
    Json(document(
        &table().into_iter().map(|(doc, _)| doc).collect::<Vec<_>>(),
    ))
}

/// Deletes answer 204, except these, which end a record that stays listable and answer its
/// final state (an unlinked link with its history).
const DELETES_ANSWERING_A_BODY: [&str; 1] = ["/v1/orgs/{org}/links/{link}"];

fn operation(route: &RouteDoc) -> Value {
    let parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if name == "hook" {
                json!({"type": "string", "enum": crate::policy::Hook::ALL.map(|h| h.name())})
            } else if name == "sha256" {
                json!({"type": "string", "pattern": "^[0-9a-f]{64}$"})
            } else if name == "kind" {
                json!({"type": "string", "enum": crate::mail::MailKind::ALL.map(|k| k.name())})
            } else {
                json!({"type": "string", "format": "uuid"})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    let success = if route.creates {
        "201"
    } else if route.method == "delete" && !DELETES_ANSWERING_A_BODY.contains(&route.path) {
        "204"
    } else {
        "200"
    };
    let mut op = json!({
        "summary": route.summary,
        "operationId": format!("{}_{}", route.method, route.path.trim_start_matches('/').replace(['/', '{', '}', '-'], "_")),
        "parameters": parameters,
        "responses": {
            success: if success == "204" {
                json!({"description": "done; no body"})
            } else {
                json!({"description": "success", "content": answer_content(route.path)})
            },
            "default": {"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        },
    });
    if let Some(media) = route.body {
        op["requestBody"] = json!({"required": true, "content": {media: {"schema": {"type": if media == "text/csv" { "string" } else { "object" }}}}});
    }
    if route.auth {
        op["security"] = json!([{"bearer": []}]);
    }
    if route.creates
        && let Some(p) = op["parameters"].as_array_mut()
    {
        p.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}))
    }
    op
}

/// What a successful answer carries: JSON objects, except the two routes that stream other
/// media.
fn answer_content(path: &str) -> Value {
    match path {
        "/metrics" => {
            json!({"application/openmetrics-text": {"schema": {"type": "string"}}})
        }
        "/v1/platform/backup" => {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
        }
        _ => json!({"application/json": {"schema": {"type": "object"}}}),
    }
}

pub fn document(routes: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "tenantry", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Problem": {"type": "object", "required": ["title", "status"], "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "errors": {"type": "array", "items": {"type": "object"}}
            }}}
        }
    })
}
