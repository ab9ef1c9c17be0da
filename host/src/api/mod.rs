//! The HTTP API: axum routes over the use cases, problem+json errors, request ids, body limits,
//! timeouts, metrics, idempotency, graceful shutdown.

pub mod connections;
pub mod decisions;
pub mod extract;
pub mod idempotency;
pub mod links;
pub mod mail;
pub mod members;
pub mod openapi;
pub mod ops;
pub mod orgs;
pub mod plugins;
pub mod policies;
pub mod problem;
pub mod remote_support;
pub mod resources;
pub mod routes;
pub mod sessions;
pub mod shown_once;
pub mod webhooks;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::trace_context::{self, TraceParent};
use problem::problem;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Gives every request a trace: the caller's `traceparent` when it is well formed, a new one
/// otherwise. The request's log span, its decisions in the decision log and the answer's
/// `traceparent` (this server's span in the same trace) carry it.
async fn trace_context(mut req: Request, next: Next) -> Response {
    let trace = req
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .unwrap_or_default();
    let ours = trace.child();
    // Parsed once: the log span below reads it from here.
    req.extensions_mut().insert(trace.clone());
    let mut response = trace_context::within(trace.trace_id.clone(), next.run(req)).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&ours.header()) {
        response.headers_mut().insert(TRACEPARENT, value);
    }
    response
}

/// The whole HTTP application.
pub fn router(app: App) -> Router {
    let settings = app.settings.clone();
    let mut router = Router::new();
    for (doc, method_router) in routes::table() {
        let limit = match doc.body {
            Some("text/csv") => settings.csv_body_limit,
            Some("application/wasm") => settings.wasm.max_module_bytes,
            _ => settings.json_body_limit,
        };
        router = router.route(doc.path, method_router.layer(DefaultBodyLimit::max(limit)));
    }
    let in_flight = idempotency::InFlight::default();
    router
        .merge(crate::console::router(settings.json_body_limit, settings.wasm.max_module_bytes))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!("a request handler panicked");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "internal error", json!(null))
        }))
        .layer(middleware::from_fn_with_state((app.clone(), in_flight), idempotency::middleware))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn_with_state(
            TimeLimits {
                request: Duration::from_secs(settings.request_timeout_secs),
                upload: Duration::from_secs(settings.upload_timeout_secs()),
            },
            time_limit,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let trace = req.extensions().get::<TraceParent>().map(|t| t.trace_id.as_str()).unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id, trace_id = %trace)
        }))
        .layer(middleware::from_fn(trace_context))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(app)
}

async fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "not found",
        json!({"detail": "no such route"}),
    )
}

/// How long a request may take: its body and answer, and a plugin upload's answer (which waits
/// for the compilation; its body is held to `request` by the handler).
#[derive(Clone, Copy)]
struct TimeLimits {
    request: Duration,
    upload: Duration,
}

/// Answers `408` (problem+json) to a request not done within the request timeout: a body that
/// arrives too slowly, or an answer that takes too long. Dropping the handler's future ends its
/// work; a write transaction it queued is committed or not as a whole, never half.
async fn time_limit(State(limits): State<TimeLimits>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let limit = if req.method() == Method::POST
        && (path == "/v1/plugins" || crate::console::is_upload(path))
    {
        limits.upload
    } else {
        limits.request
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => problem(
            StatusCode::REQUEST_TIMEOUT,
            "request timeout",
            json!({"detail": format!(
                "the request was not completed within {} s; a request body must arrive within {} s",
                limit.as_secs(),
                limits.request.as_secs()
            )}),
        ),
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Label values come from closed sets: a client may send any method name.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = next.run(req).await;
    crate::metrics::record_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    let response = response.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get("content-type").is_none()
    {
        return problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
            json!(null),
        );
    }
    response
}

/// Serves until `shutdown` resolves, then lets requests in flight finish (see
/// [`connections`] for the limits on connections themselves).
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = app.start_background();
    let limits = app.settings.connections;
    let closing = app.clone();
    let result = connections::serve(router(app), listener, limits, shutdown).await;
    for task in background {
        task.abort();
    }
    closing.settle_for_exit().await;
    result
}
