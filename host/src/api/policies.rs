//! Policy routes: the three layers' versions, rollback, unbinding, and the bindings list.
//! One set of handlers serves the platform, customer and organization paths; the const
//! parameter says which layer a path addresses.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Auth, JsonBody, Paging, QueryParams, body_of, parse_json};
use super::openapi::Answer;
use super::orgs::org_id;
use super::problem::{ApiError, ApiResult};
use crate::Error;
use crate::app::policies::{Target, VersionBody};
use crate::app::{App, Items};
use crate::policy::Hook;

pub const PLATFORM: u8 = 0;
pub const CUSTOMERS: u8 = 1;
pub const ORG: u8 = 2;

fn target<const T: u8>(params: &HashMap<String, String>) -> ApiResult<(Target, Hook)> {
    let hook_name = params.get("hook").map(String::as_str).unwrap_or_default();
    let hook = Hook::parse(hook_name).ok_or_else(|| ApiError(Error::NotFound("hook")))?;
    let org = || org_id(params.get("org").map(String::as_str).unwrap_or_default());
    let target = match T {
        PLATFORM => Target::Platform,
        CUSTOMERS => Target::Customers(org()?),
        _ => Target::Org(org()?),
    };
    Ok((target, hook))
}

/// Reads a new version: `text/x-rhai` (source only) or JSON `{source, fixtures}`.
async fn version_body(req: Request, app: &App) -> Result<VersionBody, Response> {
    let is_rhai = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/x-rhai"));
    if is_rhai {
        let bytes = body_of(req, app, "text/x-rhai").await?;
        let source = String::from_utf8(bytes.to_vec()).map_err(|_| {
            ApiError(Error::BadRequest("the policy is not UTF-8".into())).into_response()
        })?;
        return Ok(VersionBody {
            source: Some(source),
            plugin: None,
            config: None,
            fixtures: Vec::new(),
        });
    }
    let bytes = body_of(req, app, "application/json").await?;
    parse_json(&bytes).map_err(|e| ApiError(e).into_response())
}

pub async fn put<const T: u8>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(params): Path<HashMap<String, String>>,
    req: Request,
) -> Result<(StatusCode, Json<impl Answer + use<T>>), Response> {
    let (target, hook) = target::<T>(&params).map_err(IntoResponse::into_response)?;
    let body = version_body(req, &app).await?;
    match app.put_policy(actor, target, hook, body).await {
        Ok(version) => Ok((StatusCode::CREATED, Json(version))),
        Err(e) => Err(ApiError(e).into_response()),
    }
}

pub async fn versions<const T: u8>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(params): Path<HashMap<String, String>>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    let (target, hook) = target::<T>(&params)?;
    Ok(Json(app.policy_versions(
        actor,
        target,
        hook,
        paging.page()?,
    )?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"version": 3}))]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    version: u32,
}

pub async fn rollback<const T: u8>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(params): Path<HashMap<String, String>>,
    JsonBody(body): JsonBody<Rollback>,
) -> ApiResult<Json<impl Answer>> {
    let (target, hook) = target::<T>(&params)?;
    Ok(Json(
        app.rollback_policy(actor, target, hook, body.version)
            .await?,
    ))
}

pub async fn unbind<const T: u8>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let (target, hook) = target::<T>(&params)?;
    app.unbind_policy(actor, target, hook).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(State(app): State<App>, Auth(actor): Auth) -> ApiResult<Json<impl Answer>> {
    Ok(Json(Items {
        items: app.list_bindings(actor)?,
    }))
}

/// The JSON Schema of a hook's input: what every layer is given and what fixtures must be.
pub async fn schema(Path(hook): Path<String>) -> ApiResult<Json<impl Answer>> {
    let hook = Hook::parse(&hook).ok_or(ApiError(Error::NotFound("hook")))?;
    Ok(Json(crate::policy::input::schema(hook)))
}
