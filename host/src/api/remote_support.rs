//! Remote-support routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::{Auth, JsonBody, Paging, QueryParams, parse_id};
use super::openapi::Answer;
use super::orgs::org_id;
use super::problem::ApiResult;
use crate::app::App;
use crate::app::actor::Actor;
use crate::app::remote_support::{NewRequest, SupportAction};
use crate::domain::ids::RemoteSupportId;

pub async fn request(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<NewRequest>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    Ok((
        StatusCode::CREATED,
        Json(
            app.request_remote_support(actor, org_id(&org)?, body)
                .await?,
        ),
    ))
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.list_remote_support(
        actor,
        org_id(&org)?,
        paging.page()?,
    )?))
}

async fn act(
    app: App,
    actor: Actor,
    org: &str,
    id: &str,
    action: SupportAction,
) -> ApiResult<Json<impl Answer + use<>>> {
    Ok(Json(
        app.act_on_remote_support(actor, org_id(org)?, parse_id(id, RemoteSupportId)?, action)
            .await?,
    ))
}

pub async fn approve(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &id, SupportAction::Approve).await
}

pub async fn deny(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &id, SupportAction::Deny).await
}

pub async fn revoke(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &id, SupportAction::Revoke).await
}

pub async fn end(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &id, SupportAction::End).await
}
