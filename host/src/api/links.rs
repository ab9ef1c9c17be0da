//! Link and share routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::extract::{Auth, JsonBody, Paging, QueryParams, parse_id};
use super::openapi::Answer;
use super::orgs::org_id;
use super::problem::ApiResult;
use crate::app::App;
use crate::app::links::{Direction, LinkAction, NewLink};
use crate::app::shares::{NewShare, ShareViewKind};
use crate::domain::ids::{LinkId, ShareId};
use crate::domain::link::LinkStatus;

pub async fn create(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<NewLink>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_link(actor, org_id(&org)?, body).await?),
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    direction: Option<Direction>,
    status: Option<LinkStatus>,
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    cursor: Option<String>,
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(q): QueryParams<LinkQuery>,
) -> ApiResult<Json<impl Answer>> {
    let page = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    Ok(Json(app.list_links(
        actor,
        org_id(&org)?,
        q.direction,
        q.status,
        page,
    )?))
}

async fn act(
    app: App,
    actor: crate::app::actor::Actor,
    org: &str,
    link: &str,
    action: LinkAction,
) -> ApiResult<Json<impl Answer + use<>>> {
    Ok(Json(
        app.act_on_link(actor, org_id(org)?, parse_id(link, LinkId)?, action)
            .await?,
    ))
}

pub async fn accept(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, link)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &link, LinkAction::Accept).await
}

pub async fn decline(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, link)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &link, LinkAction::Decline).await
}

pub async fn cancel(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, link)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &link, LinkAction::Cancel).await
}

pub async fn resend(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, link)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    act(app, actor, &org, &link, LinkAction::Resend).await
}

pub async fn unlink(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, link)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(
        app.unlink(actor, org_id(&org)?, parse_id(&link, LinkId)?)
            .await?,
    ))
}

pub async fn share(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<NewShare>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_share(actor, org_id(&org)?, body).await?),
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareQuery {
    view: Option<ShareViewKind>,
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    cursor: Option<String>,
}

pub async fn list_shares(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(q): QueryParams<ShareQuery>,
) -> ApiResult<Json<impl Answer>> {
    let page = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let view = q.view.unwrap_or(ShareViewKind::Sent);
    Ok(Json(app.list_shares(actor, org_id(&org)?, view, page)?))
}

pub async fn revoke_share(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, share)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.revoke(actor, org_id(&org)?, parse_id(&share, ShareId)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn received(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, share)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    let received = app.received(actor, org_id(&org)?, parse_id(&share, ShareId)?)?;
    Ok(Json(received))
}
