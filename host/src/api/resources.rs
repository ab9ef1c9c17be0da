//! Team and channel routes: one set of handlers, instantiated per kind.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::{Auth, JsonBody, Paging, QueryParams, parse_id};
use super::openapi::Answer;
use super::orgs::org_id;
use super::problem::ApiResult;
use crate::app::App;
use crate::app::resources::{NewResource, ResourcePatch};
use crate::domain::ids::ResourceId;
use crate::domain::resource::ResourceKind;

pub const TEAM: bool = false;
pub const CHANNEL: bool = true;

fn kind<const IS_CHANNEL: bool>() -> ResourceKind {
    if IS_CHANNEL {
        ResourceKind::Channel
    } else {
        ResourceKind::Team
    }
}

pub async fn create<const C: bool>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<NewResource>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let resource = app
        .create_resource(actor, org_id(&org)?, kind::<C>(), body)
        .await?;
    Ok((StatusCode::CREATED, Json(resource)))
}

pub async fn list<const C: bool>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.list_resources(
        actor,
        org_id(&org)?,
        kind::<C>(),
        paging.page()?,
    )?))
}

pub async fn get<const C: bool>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.get_resource(
        actor,
        org_id(&org)?,
        kind::<C>(),
        parse_id(&id, ResourceId)?,
    )?))
}

pub async fn update<const C: bool>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<ResourcePatch>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(
        app.update_resource(
            actor,
            org_id(&org)?,
            kind::<C>(),
            parse_id(&id, ResourceId)?,
            patch,
        )
        .await?,
    ))
}

pub async fn delete<const C: bool>(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.delete_resource(
        actor,
        org_id(&org)?,
        kind::<C>(),
        parse_id(&id, ResourceId)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
