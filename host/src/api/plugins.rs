//! Plugin registry routes.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::{Auth, body_of};
use super::problem::{ApiError, ApiResult};
use crate::app::App;

pub async fn upload(State(app): State<App>, Auth(actor): Auth, req: Request) -> Response {
    let bytes = match body_of(req, &app, "application/wasm").await {
        Ok(b) => b,
        Err(response) => return response,
    };
    match app.upload_plugin(actor, bytes.to_vec()).await {
        Ok(record) => (StatusCode::CREATED, Json(json!(record))).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

pub async fn list(State(app): State<App>, Auth(actor): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": app.list_plugins(actor)?})))
}

pub async fn get(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(sha): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.get_plugin(actor, &sha)?)))
}
