//! Organization and plan routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{Auth, JsonBody, Paging, QueryParams, parse_id};
use super::openapi::Answer;
use super::problem::ApiResult;
use crate::app::App;
use crate::app::handovers::{Move, OwnershipTransfer};
use crate::app::journal::AuditFilter;
use crate::app::orgs::{Created, ManagedBySwitch};
use crate::app::plans::{NewPlan, PlanEdit};
use crate::domain::change_request::ChangeRequest;
use crate::domain::clock::Timestamp;
use crate::domain::ids::{ChangeRequestId, OrgId, PlanId};
use crate::domain::org::{NewOrg, Org, OrgPatch, OrgStatus};

pub fn org_id(text: &str) -> ApiResult<OrgId> {
    parse_id(text, OrgId)
}

/// An organization as the API answers it: the record, where its owner's invitation went when
/// this request made one, and the changes that wait for the customer's consent.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OrgAnswer {
    #[serde(flatten)]
    org: Org,
    /// The new owner's invitation token, answered only when the server sends no e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_invitation_token: Option<String>,
    /// `true` when the owner's invitation went to the owner by e-mail instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    owner_invitation_mailed: bool,
    /// Changes opened for the customer's consent instead of being applied.
    pending_changes: Vec<ChangeRequest>,
}

/// `202 Accepted` when this request opened a change for the customer's consent, else `done`.
fn created_answer(created: Created, done: StatusCode) -> (StatusCode, Json<OrgAnswer>) {
    let status = if created.pending.is_some() {
        StatusCode::ACCEPTED
    } else {
        done
    };
    let answer = OrgAnswer {
        org: created.org,
        owner_invitation_token: created
            .owner_invitation_token
            .map(|t| t.expose().to_owned()),
        owner_invitation_mailed: created.owner_invitation_mailed,
        pending_changes: created.pending.into_iter().collect(),
    };
    (status, Json(answer))
}

pub async fn create(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewOrg>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let created = app.create_org(actor, body).await?;
    Ok(created_answer(created, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    #[schemars(example = &"acme")]
    q: Option<String>,
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    cursor: Option<String>,
}

pub async fn search(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(query): QueryParams<SearchQuery>,
) -> ApiResult<Json<impl Answer>> {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let Some(q) = q else {
        let page = Paging {
            limit: query.limit,
            cursor: query.cursor,
        }
        .page()?;
        return Ok(Json(app.list_orgs(actor, page)?));
    };
    if q.len() > 200 {
        return Err(crate::Error::field("query is invalid", "q", "at most 200 characters").into());
    }
    // Names hold none (they are refused at creation), and PostgreSQL cannot compare NUL.
    if let Some(problem) = crate::domain::text::control_problem(q) {
        return Err(crate::Error::field("query is invalid", "q", problem).into());
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
    Ok(Json(app.search(
        actor,
        q,
        limit,
        query.cursor.as_deref(),
    )?))
}

pub async fn get(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<impl Answer>> {
    let (org, pending) = app.get_org_with_pending(actor, org_id(&org)?)?;
    Ok(Json(OrgAnswer {
        org,
        owner_invitation_token: None,
        owner_invitation_mailed: false,
        pending_changes: pending,
    }))
}

pub async fn update(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(patch): JsonBody<OrgPatch>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let updated = app.update_org(actor, org_id(&org)?, patch).await?;
    Ok(created_answer(updated, StatusCode::OK))
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
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(
        app.set_org_status(actor, org_id(&org)?, OrgStatus::Suspended)
            .await?,
    ))
}

pub async fn reactivate(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(
        app.set_org_status(actor, org_id(&org)?, OrgStatus::Active)
            .await?,
    ))
}

pub async fn managed_by(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<ManagedBySwitch>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let switched = app.switch_managed_by(actor, org_id(&org)?, body).await?;
    Ok(created_answer(switched, StatusCode::OK))
}

pub async fn change_requests(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.list_change_requests(
        actor,
        org_id(&org)?,
        paging.page()?,
    )?))
}

async fn answer(
    app: App,
    actor: crate::app::actor::Actor,
    org: &str,
    id: &str,
    accept: bool,
) -> ApiResult<Json<impl Answer + use<>>> {
    let id = parse_id(id, ChangeRequestId)?;
    let answered = app
        .answer_change_request(actor, org_id(org)?, id, accept)
        .await?;
    Ok(Json(answered))
}

pub async fn accept_change_request(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    answer(app, actor, &org, &id, true).await
}

pub async fn decline_change_request(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    answer(app, actor, &org, &id, false).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"plan_id": "0192f1a5-5e10-7a2c-9d41-8b3f6c2e1a07"}))]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    plan_id: PlanId,
}

pub async fn change_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<PlanChange>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(
        app.change_plan(actor, org_id(&org)?, body.plan_id).await?,
    ))
}

pub async fn create_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewPlan>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_plan(actor, body).await?),
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
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    cursor: Option<String>,
}

pub async fn list_plans(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<PlanQuery>,
) -> ApiResult<Json<impl Answer>> {
    let page = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    Ok(Json(app.list_plans(actor, q.assignable_by, page)?))
}

pub async fn edit_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(plan): Path<String>,
    JsonBody(body): JsonBody<PlanEdit>,
) -> ApiResult<Json<impl Answer>> {
    let plan = parse_id(&plan, PlanId)?;
    Ok(Json(app.edit_plan(actor, plan, body).await?))
}

pub async fn retire_plan(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(plan): Path<String>,
) -> ApiResult<Json<impl Answer>> {
    let plan = parse_id(&plan, PlanId)?;
    Ok(Json(app.retire_plan(actor, plan).await?))
}

pub async fn plan_orgs(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(plan): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    let plan = parse_id(&plan, PlanId)?;
    Ok(Json(app.plan_orgs(actor, plan, paging.page()?)?))
}

pub async fn transfer_ownership(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<OwnershipTransfer>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let done = app.transfer_ownership(actor, org_id(&org)?, body).await?;
    Ok(created_answer(done, StatusCode::OK))
}

pub async fn move_org(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<Move>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.move_org(actor, org_id(&org)?, body).await?))
}

pub async fn audit(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.audit_log(actor, org_id(&org)?, paging.page()?)?))
}

pub async fn events(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.events(actor, org_id(&org)?, paging.page()?)?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[schemars(example = &"2026-11-01T00:00:00Z")]
    since: Option<String>,
    #[schemars(example = &"2026-12-01T00:00:00Z")]
    until: Option<String>,
    #[schemars(example = &"member.invite")]
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
                chunk.push_str(&serde_json::to_string(&entry).unwrap_or_default());
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
