//! Member, invitation, bulk import and token routes.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::extract::{Auth, JsonBody, MaybeAuth, Paging, QueryParams, body_of, parse_id};
use super::openapi::{Answer, DescribeAnswer};
use super::orgs::org_id;
use super::problem::{ApiError, ApiResult};
use super::shown_once::{Invited, WithToken};
use crate::app::import::ImportReport;
use crate::app::invitations::{Accepted, Naming};
use crate::app::member_edit::MemberEdit;
use crate::app::members::{Added, InviteBody, MemberFilter, MemberView};
use crate::app::password_reset::ResetView;
use crate::app::pins::{PinCheck, PinSetting};
use crate::app::{App, Items};
use crate::domain::ids::{InvitationId, OrgId, ResourceId, TokenId, UserId};
use crate::domain::member::{MembershipStatus, Role};

fn added_answer(added: Added) -> Invited<MemberView> {
    let mut answer = Invited::new(
        MemberView::new(&added.user, &added.membership),
        added.invitation_token.as_ref(),
        added.invitation_mailed,
    );
    answer.pin = added.pin.map(|pin| pin.expose().to_owned());
    answer
}

pub async fn invite(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<InviteBody>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let added = app.invite_member(actor, org_id(&org)?, body).await?;
    Ok((StatusCode::CREATED, Json(added_answer(added))))
}

/// `limit` and `cursor`, and the filters of the member list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    cursor: Option<String>,
    role: Option<Role>,
    portal_access: Option<bool>,
    status: Option<MembershipStatus>,
    team: Option<ResourceId>,
    #[schemars(example = &"acme")]
    q: Option<String>,
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(query): QueryParams<MemberQuery>,
) -> ApiResult<Json<impl Answer>> {
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    if query.q.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(crate::Error::field("query is invalid", "q", "at most 200 characters").into());
    }
    let filter = MemberFilter {
        role: query.role,
        portal_access: query.portal_access,
        status: query.status,
        team: query.team,
        q: query.q,
    };
    Ok(Json(app.list_members(
        actor,
        org_id(&org)?,
        &filter,
        page,
    )?))
}

pub async fn edit(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<MemberEdit>,
) -> ApiResult<Json<impl Answer>> {
    let edited = app
        .edit_member(actor, org_id(&org)?, parse_id(&user, UserId)?, body)
        .await?;
    Ok(Json(Invited::new(
        edited.member,
        edited.invitation_token.as_ref(),
        edited.invitation_mailed,
    )))
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
) -> Result<ImportAnswer, Response> {
    let org = org_id(&org).map_err(IntoResponse::into_response)?;
    // Reading and parsing the file costs: only for a caller who may import into `org`.
    app.may_import(actor, org)
        .map_err(|e| ApiError(e).into_response())?;
    let streamed = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(NDJSON));
    let bytes = body_of(req, &app, "text/csv").await?;
    let auto_pins = q.auto_pins.unwrap_or(false);
    if !streamed {
        return match app
            .import_members(actor, org, bytes.to_vec(), auto_pins, None)
            .await
        {
            Ok(report) => Ok(ImportAnswer::Report(report)),
            Err(e) => Err(ApiError(e).into_response()),
        };
    }
    // One JSON line per progress step, then the report (or the problem) as the last line.
    let (progress, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let (lines, body) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        let import = app.import_members(actor, org, bytes.to_vec(), auto_pins, Some(progress));
        tokio::pin!(import);
        let last = loop {
            tokio::select! {
                Some(step) = heard.recv() => {
                    let line = json!({"progress": step}).to_string() + "\n";
                    if lines.send(Ok(line)).await.is_err() {
                        return;
                    }
                }
                done = &mut import => break done,
            }
        };
        let line = match last {
            Ok(report) => json!({"status": 201, "report": report}),
            Err(e) => {
                let answer = ApiError(e).into_response();
                let status = answer.status().as_u16();
                let problem = axum::body::to_bytes(answer.into_body(), 1 << 20)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .unwrap_or(Value::Null);
                json!({"status": status, "problem": problem})
            }
        };
        let _ = lines.send(Ok(line.to_string() + "\n")).await;
    });
    let stream = line_stream(body);
    let mut response = Response::new(axum::body::Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(NDJSON),
    );
    Ok(ImportAnswer::Lines(response))
}

/// The import's report as one JSON answer, or as the last of the JSON lines that report its
/// progress (`Accept: application/x-ndjson`).
pub enum ImportAnswer {
    Report(ImportReport),
    Lines(Response),
}

impl IntoResponse for ImportAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Report(report) => (StatusCode::CREATED, Json(report)).into_response(),
            Self::Lines(lines) => lines,
        }
    }
}

impl DescribeAnswer for ImportAnswer {
    fn answer(generator: &mut schemars::SchemaGenerator) -> Option<Value> {
        Json::<ImportReport>::answer(generator)
    }
}

const NDJSON: &str = "application/x-ndjson";

/// The lines of a channel as a body stream.
fn line_stream(
    mut lines: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| lines.poll_recv(cx))
}

/// A sample file for the member import (every column, three kinds of rows).
pub async fn import_sample(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> Response {
    let org = match org_id(&org) {
        Ok(org) => org,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = app.may_import(actor, org) {
        return ApiError(e).into_response();
    }
    let mut response = crate::app::import::SAMPLE.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/csv"),
    );
    response
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"token": "inv_3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a3f9a"}))]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    token: String,
    /// For a portal user claiming their identity: the password they will sign in with
    /// (`POST /v1/sessions`), 12 characters to 128 bytes. Not for an existing account, nor for
    /// a login-less user.
    #[serde(default)]
    password: Option<String>,
}

/// Who accepted, into which organization, and the API token of an identity claimed now.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AcceptedAnswer {
    user: AcceptingUser,
    org_id: OrgId,
    /// Only when this acceptance claimed a new identity; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_token: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AcceptingUser {
    id: UserId,
    name: String,
    email: Option<String>,
}

fn accepted_answer(accepted: Accepted) -> Json<AcceptedAnswer> {
    Json(AcceptedAnswer {
        user: AcceptingUser {
            id: accepted.user.id,
            name: accepted.user.name,
            email: accepted.user.email,
        },
        org_id: accepted.org_id,
        api_token: accepted.api_token.map(|t| t.expose().to_owned()),
    })
}

/// Accepts by token: anonymously for a new identity, signed in as the invitee otherwise.
pub async fn accept(
    State(app): State<App>,
    MaybeAuth(actor): MaybeAuth,
    JsonBody(body): JsonBody<AcceptBody>,
) -> ApiResult<Json<impl Answer>> {
    if body.token.len() > 256 {
        return Err(crate::Error::NotFound("invitation").into());
    }
    let accepted = app
        .accept_invitation(actor, Naming::Token(body.token), body.password)
        .await?;
    Ok(accepted_answer(accepted))
}

pub async fn my_invitations(
    State(app): State<App>,
    Auth(actor): Auth,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(Items {
        items: app.my_invitations(actor)?,
    }))
}

pub async fn accept_by_id(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<impl Answer>> {
    let id = parse_id(&id, InvitationId)?;
    let accepted = app
        .accept_invitation(Some(actor), Naming::Id(id), None)
        .await?;
    Ok(accepted_answer(accepted))
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
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.list_tokens(actor, paging.page()?)?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "ci"}))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
}

pub async fn create_token(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let (view, secret) = app.create_token(actor, body.name).await?;
    Ok((StatusCode::CREATED, Json(WithToken::new(view, &secret))))
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
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let (view, secret) = app.rotate_operator_token(actor).await?;
    Ok((StatusCode::CREATED, Json(WithToken::new(view, &secret))))
}

pub async fn org_invitations(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.org_invitations(
        actor,
        org_id(&org)?,
        paging.page()?,
    )?))
}

pub async fn resend_invitation(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<impl Answer>> {
    let renewed = app
        .resend_invitation(actor, org_id(&org)?, parse_id(&id, InvitationId)?)
        .await?;
    let mailed = renewed.token.is_none();
    Ok(Json(Invited::new(
        renewed.invitation,
        renewed.token.as_ref(),
        mailed,
    )))
}

pub async fn reset_password(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<impl Answer>)> {
    let user = parse_id(&user, UserId)?;
    let reset = app.reset_password(actor, org_id(&org)?, user).await?;
    let view = ResetView {
        user_id: user,
        expires_at: reset.expires_at,
    };
    Ok((
        StatusCode::CREATED,
        Json(WithToken::new(view, &reset.token)),
    ))
}

pub async fn revoke_invitation(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.revoke_invitation(actor, org_id(&org)?, parse_id(&id, InvitationId)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn verify_pin(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<PinCheck>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.verify_pin(actor, org_id(&org)?, body).await?))
}

pub async fn set_pin(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<PinSetting>,
) -> ApiResult<Json<impl Answer>> {
    let user = parse_id(&user, UserId)?;
    let shown = app.set_pin(actor, org_id(&org)?, user, body).await?;
    Ok(Json(PinAnswer {
        user_id: user,
        has_pin: true,
        pin: shown.map(|pin| pin.expose().to_owned()),
    }))
}

/// The member's PIN is set; a PIN the server generated is shown in this answer only.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PinAnswer {
    user_id: UserId,
    has_pin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin: Option<String>,
}
