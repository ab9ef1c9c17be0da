//! Organization and plan routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Auth, JsonBody, Paging, QueryParams, parse_id};
use super::problem::ApiResult;
use crate::app::App;
use crate::app::handovers::{Move, OwnershipTransfer};
use crate::app::journal::AuditFilter;
use crate::app::orgs::{Created, ManagedBySwitch};
use crate::app::plans::{NewPlan, PlanEdit};
use crate::domain::clock::Timestamp;
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
        if created.owner_invitation_mailed {
            map.insert("owner_invitation_mailed".into(), json!(true));
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn search(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(query): QueryParams<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let Some(q) = q else {
        let page = Paging {
            limit: query.limit,
            cursor: query.cursor,
        }
        .page()?;
        return Ok(Json(json!(app.list_orgs(actor, page)?)));
    };
    if q.len() > 200 {
        return Err(crate::Error::field("query is invalid", "q", "at most 200 characters").into());
    }
    let limit = query.limit.unwrap_or(App::DEFAULT_PAGE);
    if !(1..=App::MAX_PAGE).contains(&limit) {
        return Err(crate::Error::field(
            "query is invalid",
            "limit",
            format!("must be 1 to {}", App::MAX_PAGE),
        )
        .into());
    }
    Ok(Json(json!(app.search(
        actor,
        q,
        limit,
        query.cursor.as_deref()
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanQuery {
    /// Only the plans this provider may put its customers on.
    assignable_by: Option<OrgId>,
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn list_plans(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<PlanQuery>,
) -> ApiResult<Json<Value>> {
    let page = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    Ok(Json(json!(app.list_plans(actor, q.assignable_by, page)?)))
}

pub async fn edit_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(plan): Path<String>,
    JsonBody(body): JsonBody<PlanEdit>,
) -> ApiResult<Json<Value>> {
    let plan = parse_id(&plan, PlanId)?;
    Ok(Json(json!(app.edit_plan(actor, plan, body).await?)))
}

pub async fn retire_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(plan): Path<String>,
) -> ApiResult<Json<Value>> {
    let plan = parse_id(&plan, PlanId)?;
    Ok(Json(json!(app.retire_plan(actor, plan).await?)))
}

pub async fn plan_orgs(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(plan): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    let plan = parse_id(&plan, PlanId)?;
    Ok(Json(json!(app.plan_orgs(actor, plan, paging.page()?)?)))
}

pub async fn transfer_ownership(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<OwnershipTransfer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let done = app.transfer_ownership(actor, org_id(&org)?, body).await?;
    Ok(created_json(done, StatusCode::OK))
}

pub async fn move_org(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Move>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.move_org(actor, org_id(&org)?, body).await?)))
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    since: Option<String>,
    until: Option<String>,
    action: Option<String>,
}

/// The organization's audit log as JSON lines (operator), filtered by time and action.
pub async fn audit_export(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(q): QueryParams<ExportQuery>,
) -> ApiResult<axum::response::Response> {
    let org = org_id(&org)?;
    let time = |field: &str, text: Option<&str>| {
        text.map(|t| {
            Timestamp::parse(t).ok_or_else(|| {
                crate::Error::field(
                    "query is invalid",
                    field,
                    format!("`{t}` is not an RFC 3339 time"),
                )
            })
        })
        .transpose()
    };
    let filter = AuditFilter {
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
        action: q.action,
    };
    app.may_export_audit(actor, org)?;
    let (lines, body) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut after = None;
        loop {
            let page = app.audit_export_page(org, &filter, after, 1_000);
            let (entries, next) = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "audit export stopped");
                    let _ = lines
                        .send(Err(std::io::Error::other("audit export stopped")))
                        .await;
                    return;
                }
            };
            let mut chunk = String::new();
            for entry in entries {
                chunk.push_str(&json!(entry).to_string());
                chunk.push('\n');
            }
            if !chunk.is_empty() && lines.send(Ok(chunk)).await.is_err() {
                return;
            }
            match next {
                Some(n) => after = Some(n),
                None => return,
            }
        }
    });
    let mut body = body;
    let stream = futures_util::stream::poll_fn(move |cx| body.poll_recv(cx));
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(stream));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
