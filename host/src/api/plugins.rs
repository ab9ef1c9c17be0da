//! Plugin registry routes.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Auth, QueryParams, body_of};
use super::openapi::Answer;
use super::problem::{ApiError, ApiResult, problem};
use crate::app::{App, Items};
use crate::domain::ids::OrgId;

/// Whose upload: `?org=`, else the one organization the caller administers.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerQuery {
    org: Option<OrgId>,
}

pub async fn upload(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(query): QueryParams<OwnerQuery>,
    req: Request,
) -> Result<(StatusCode, Json<impl Answer + use<>>), Response> {
    // Who owns the upload, and whether they may, before a byte of it is read.
    let owner = match app.plugin_owner(actor, query.org, "plugin.upload") {
        Ok(owner) => owner,
        Err(e) => return Err(ApiError(e).into_response()),
    };
    // The body within the usual request time; only the compilation may take longer.
    let limit = Duration::from_secs(app.settings.request_timeout_secs);
    let bytes = match tokio::time::timeout(limit, body_of(req, &app, "application/wasm")).await {
        Ok(Ok(b)) => b,
        Ok(Err(response)) => return Err(response),
        Err(_) => {
            return Err(problem(
                StatusCode::REQUEST_TIMEOUT,
                "request timeout",
                json!({"detail": format!("the component did not arrive within {} s", limit.as_secs())}),
            ));
        }
    };
    match app.upload_plugin(actor, owner, bytes.to_vec()).await {
        Ok(record) => Ok((StatusCode::CREATED, Json(record))),
        Err(e) => Err(ApiError(e).into_response()),
    }
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(query): QueryParams<OwnerQuery>,
) -> ApiResult<Json<impl Answer>> {
    let owner = app.plugin_owner(actor, query.org, "plugin.read")?;
    Ok(Json(Items {
        items: app.list_plugins(owner)?,
    }))
}

pub async fn get(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(sha): Path<String>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.get_plugin(actor, &sha)?))
}

pub async fn delete(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(sha): Path<String>,
    QueryParams(query): QueryParams<OwnerQuery>,
) -> ApiResult<StatusCode> {
    let owner = app.plugin_owner(actor, query.org, "plugin.delete")?;
    app.delete_plugin(actor, owner, sha).await?;
    Ok(StatusCode::NO_CONTENT)
}
