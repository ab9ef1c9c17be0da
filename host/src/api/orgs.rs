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
use crate::domain::ids::{ChangeRequestId, OrgId, PlanId};
use crate::domain::org::{NewOrg, OrgPatch, OrgStatus};

pub fn org_id(text: &str) -> ApiResult<OrgId> {
    parse_id(text, OrgId)
}

/// The organization, its owner's invitation token when one was made, and the changes that wait
/// for the customer's consent: `202 Accepted` when this request opened one.
fn created_json(created: Created, done: StatusCode) -> (StatusCode, Json<Value>) {
    let mut body = json!(created.org);
    let status = if created.pending.is_some() {
        StatusCode::ACCEPTED
    } else {
        done
    };
    if let Some(map) = body.as_object_mut() {
        if let Some(token) = created.owner_invitation_token {
            map.insert("owner_invitation_token".into(), json!(token.expose()));
        }
        if let Some(pending) = created.pending {
            map.insert("pending_changes".into(), json!([pending]));
        }
    }
    (status, Json(body))
}

pub async fn create(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewOrg>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = app.create_org(actor, body).await?;
    Ok(created_json(created, StatusCode::CREATED))
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
    let (org, pending) = app.get_org_with_pending(actor, org_id(&org)?)?;
    let mut body = json!(org);
    if let Some(map) = body.as_object_mut() {
        map.insert("pending_changes".into(), json!(pending));
    }
    Ok(Json(body))
}

pub async fn update(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(patch): JsonBody<OrgPatch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let updated = app.update_org(actor, org_id(&org)?, patch).await?;
    Ok(created_json(updated, StatusCode::OK))
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
) -> ApiResult<(StatusCode, Json<Value>)> {
    let switched = app.switch_managed_by(actor, org_id(&org)?, body).await?;
    Ok(created_json(switched, StatusCode::OK))
}

pub async fn change_requests(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.list_change_requests(
        actor,
        org_id(&org)?,
        paging.page()?
    )?)))
}

async fn answer(
    app: App,
    actor: crate::app::actor::Actor,
    org: &str,
    id: &str,
    accept: bool,
) -> ApiResult<Json<Value>> {
    let id = parse_id(id, ChangeRequestId)?;
    let answered = app
        .answer_change_request(actor, org_id(org)?, id, accept)
        .await?;
    Ok(Json(json!(answered)))
}

pub async fn accept_change_request(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    answer(app, actor, &org, &id, true).await
}

pub async fn decline_change_request(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    answer(app, actor, &org, &id, false).await
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
