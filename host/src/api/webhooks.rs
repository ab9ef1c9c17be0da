//! Webhook endpoint routes: `/v1/orgs/{org}/webhooks[...]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Auth, JsonBody, QueryParams, parse_id};
use super::orgs::org_id;
use super::problem::ApiResult;
use crate::app::App;
use crate::app::webhooks::{KEPT_DELIVERIES, NewWebhook};
use crate::domain::ids::{EntryId, WebhookId};
use crate::error::Error;

fn webhook_id(text: &str) -> ApiResult<WebhookId> {
    parse_id(text, WebhookId)
}

pub async fn create(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<NewWebhook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = app.create_webhook(actor, org_id(&org)?, body).await?;
    Ok((StatusCode::CREATED, Json(json!(created))))
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let items = app.list_webhooks(actor, org_id(&org)?)?;
    Ok(Json(json!({"items": items})))
}

pub async fn get(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let hook = app.get_webhook(actor, org_id(&org)?, webhook_id(&id)?)?;
    Ok(Json(json!(hook)))
}

pub async fn delete(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.delete_webhook(actor, org_id(&org)?, webhook_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn enable(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let hook = app
        .enable_webhook(actor, org_id(&org)?, webhook_id(&id)?)
        .await?;
    Ok(Json(json!(hook)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// At most this many attempts, newest first (1 to 100, default 50).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<usize>,
}

pub async fn deliveries(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
    QueryParams(query): QueryParams<DeliveryQuery>,
) -> ApiResult<Json<Value>> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > KEPT_DELIVERIES {
        return Err(Error::field(
            "query is invalid",
            "limit",
            format!("must be 1 to {KEPT_DELIVERIES} (the attempts kept per endpoint)"),
        )
        .into());
    }
    let items = app.webhook_deliveries(actor, org_id(&org)?, webhook_id(&id)?, limit)?;
    Ok(Json(json!({"items": items})))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redelivery {
    event_id: EntryId,
}

pub async fn redeliver(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Redelivery>,
) -> ApiResult<Json<Value>> {
    let delivery = app
        .redeliver(actor, org_id(&org)?, webhook_id(&id)?, body.event_id)
        .await?;
    Ok(Json(json!(delivery)))
}
