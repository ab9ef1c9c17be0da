//! Webhook endpoint routes: `/v1/orgs/{org}/webhooks[...]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::extract::{Auth, JsonBody, QueryParams, parse_id};
use super::orgs::org_id;
use super::problem::ApiResult;
use crate::app::webhooks::{CreatedWebhook, KEPT_DELIVERIES, NewWebhook};
use crate::app::{App, Items};
use crate::domain::ids::{EntryId, WebhookId};
use crate::domain::webhook::{Delivery, WebhookView};
use crate::error::Error;

fn webhook_id(text: &str) -> ApiResult<WebhookId> {
    parse_id(text, WebhookId)
}

pub async fn create(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let created = app.create_webhook(actor, org_id(&org)?, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Items<WebhookView>>> {
    let items = app.list_webhooks(actor, org_id(&org)?)?;
    Ok(Json(Items { items }))
}

pub async fn get(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<WebhookView>> {
    let hook = app.get_webhook(actor, org_id(&org)?, webhook_id(&id)?)?;
    Ok(Json(hook))
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
) -> ApiResult<Json<WebhookView>> {
    let hook = app
        .enable_webhook(actor, org_id(&org)?, webhook_id(&id)?)
        .await?;
    Ok(Json(hook))
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
) -> ApiResult<Json<Items<Delivery>>> {
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
    Ok(Json(Items { items }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"event_id": "0192f1a5-7b22-7f90-a3c4-5d6e7f809112"}))]
#[serde(deny_unknown_fields)]
pub struct Redelivery {
    event_id: EntryId,
}

pub async fn redeliver(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Redelivery>,
) -> ApiResult<Json<Delivery>> {
    let delivery = app
        .redeliver(actor, org_id(&org)?, webhook_id(&id)?, body.event_id)
        .await?;
    Ok(Json(delivery))
}
