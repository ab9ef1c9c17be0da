//! Member, invitation, bulk import and token routes.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Auth, JsonBody, MaybeAuth, Paging, QueryParams, body_of, parse_id};
use super::orgs::org_id;
use super::problem::{ApiError, ApiResult};
use crate::app::App;
use crate::app::invitations::{Accepted, Naming};
use crate::app::members::{Added, InviteBody};
use crate::domain::ids::{InvitationId, TokenId, UserId};
use crate::domain::member::Role;

fn added_json(added: Added) -> Value {
    let mut body = json!(crate::app::members::MemberView::new(
        &added.user,
        &added.membership
    ));
    if let Some(map) = body.as_object_mut() {
        if let Some(token) = added.invitation_token {
            map.insert("invitation_token".into(), json!(token.expose()));
        }
        if let Some(pin) = added.pin {
            map.insert("pin".into(), json!(pin.expose()));
        }
    }
    body
}

pub async fn invite(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<InviteBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let added = app.invite_member(actor, org_id(&org)?, body).await?;
    Ok((StatusCode::CREATED, Json(added_json(added))))
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.list_members(
        actor,
        org_id(&org)?,
        paging.page()?
    )?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: Role,
}

pub async fn change_role(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<RoleChange>,
) -> ApiResult<Json<Value>> {
    let view = app
        .change_role(actor, org_id(&org)?, parse_id(&user, UserId)?, body.role)
        .await?;
    Ok(Json(json!(view)))
}

pub async fn remove(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.remove_member(actor, org_id(&org)?, parse_id(&user, UserId)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    auto_pins: Option<bool>,
}

pub async fn import(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(q): QueryParams<ImportQuery>,
    req: Request,
) -> Response {
    let org = match org_id(&org) {
        Ok(org) => org,
        Err(e) => return e.into_response(),
    };
    // Reading and parsing the file costs: only for a caller who may import into `org`.
    if let Err(e) = app.may_import(actor, org) {
        return ApiError(e).into_response();
    }
    let bytes = match body_of(req, &app, "text/csv").await {
        Ok(b) => b,
        Err(response) => return response,
    };
    match app
        .import_members(actor, org, bytes.to_vec(), q.auto_pins.unwrap_or(false))
        .await
    {
        Ok(report) => (StatusCode::CREATED, Json(json!(report))).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    token: String,
}

fn accepted_json(accepted: Accepted) -> Json<Value> {
    let mut body = json!({
        "user": {"id": accepted.user.id, "name": accepted.user.name, "email": accepted.user.email},
        "org_id": accepted.org_id,
    });
    if let (Some(token), Some(map)) = (accepted.api_token, body.as_object_mut()) {
        map.insert("api_token".into(), json!(token.expose()));
    }
    Json(body)
}

/// Accepts by token: anonymously for a new identity, signed in as the invitee otherwise.
pub async fn accept(
    State(app): State<App>,
    MaybeAuth(actor): MaybeAuth,
    JsonBody(body): JsonBody<AcceptBody>,
) -> ApiResult<Json<Value>> {
    if body.token.len() > 256 {
        return Err(crate::Error::NotFound("invitation").into());
    }
    let accepted = app
        .accept_invitation(actor, Naming::Token(body.token))
        .await?;
    Ok(accepted_json(accepted))
}

pub async fn my_invitations(State(app): State<App>, Auth(actor): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": app.my_invitations(actor)?})))
}

pub async fn accept_by_id(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, InvitationId)?;
    let accepted = app.accept_invitation(Some(actor), Naming::Id(id)).await?;
    Ok(accepted_json(accepted))
}

pub async fn decline(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.decline_invitation(actor, parse_id(&id, InvitationId)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(
    State(app): State<App>,
    Auth(actor): Auth,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.list_tokens(actor, paging.page()?)?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
}

pub async fn create_token(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (view, secret) = app.create_token(actor, body.name).await?;
    let mut body = json!(view);
    if let Some(map) = body.as_object_mut() {
        map.insert("token".into(), json!(secret.expose()));
    }
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn revoke_token(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.revoke_token(actor, parse_id(&id, TokenId)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_operator_token(
    State(app): State<App>,
    Auth(actor): Auth,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (view, secret) = app.rotate_operator_token(actor).await?;
    let mut body = json!(view);
    if let Some(map) = body.as_object_mut() {
        map.insert("token".into(), json!(secret.expose()));
    }
    Ok((StatusCode::CREATED, Json(body)))
}
