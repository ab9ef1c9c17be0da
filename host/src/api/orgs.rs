//! Organization and plan routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Auth, JsonBody, Paging, QueryParams, parse_id};
use super::problem::ApiResult;
use crate::app::App;
use crate::app::orgs::{Created, ManagedBySwitch};
use crate::app::plans::NewPlan;
use crate::domain::ids::{OrgId, PlanId};
use crate::domain::org::{NewOrg, OrgPatch, OrgStatus};

pub fn org_id(text: &str) -> ApiResult<OrgId> {
    parse_id(text, OrgId)
}

fn created_json(created: Created) -> Value {
    let mut body = json!(created.org);
    if let (Some(token), Some(map)) = (created.owner_invitation_token, body.as_object_mut()) {
        map.insert("owner_invitation_token".into(), json!(token.expose()));
    }
    body
}

pub async fn create(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewOrg>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = app.create_org(actor, body).await?;
    Ok((StatusCode::CREATED, Json(created_json(created))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn search(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(query): QueryParams<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    if query.q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(crate::Error::field("query is invalid", "q", "at most 200 characters").into());
    }
    Ok(Json(json!(app.search_orgs(
        actor,
        query.q.as_deref(),
        page
    )?)))
}

pub async fn get(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.get_org(actor, org_id(&org)?)?)))
}

pub async fn update(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(patch): JsonBody<OrgPatch>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(
        app.update_org(actor, org_id(&org)?, patch).await?
    )))
}

pub async fn delete(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<StatusCode> {
    app.delete_org(actor, org_id(&org)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn suspend(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(
        app.set_org_status(actor, org_id(&org)?, OrgStatus::Suspended)
            .await?
    )))
}

pub async fn reactivate(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(
        app.set_org_status(actor, org_id(&org)?, OrgStatus::Active)
            .await?
    )))
}

pub async fn managed_by(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<ManagedBySwitch>,
) -> ApiResult<Json<Value>> {
    Ok(Json(created_json(
        app.switch_managed_by(actor, org_id(&org)?, body).await?,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    plan_id: PlanId,
}

pub async fn change_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<PlanChange>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(
        app.change_plan(actor, org_id(&org)?, body.plan_id).await?
    )))
}

pub async fn create_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewPlan>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(json!(app.create_plan(actor, body).await?)),
    ))
}

pub async fn list_plans(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.list_plans(actor, paging.page()?)?)))
}

pub async fn audit(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.audit_log(
        actor,
        org_id(&org)?,
        paging.page()?
    )?)))
}

pub async fn events(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.events(
        actor,
        org_id(&org)?,
        paging.page()?
    )?)))
}
