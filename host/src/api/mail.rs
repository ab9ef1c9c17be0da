//! A service provider's e-mail templates: `/v1/orgs/{org}/mail-templates[/{kind}]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::{Auth, JsonBody};
use super::orgs::org_id;
use super::problem::ApiResult;
use crate::app::mail::{NewTemplate, TemplateView};
use crate::app::{App, Items};
use crate::error::Error;
use crate::mail::MailKind;

fn kind(text: &str) -> ApiResult<MailKind> {
    MailKind::parse(text).ok_or_else(|| {
        let known: Vec<&str> = MailKind::ALL.iter().map(|k| k.name()).collect();
        Error::field(
            "unknown e-mail kind",
            "kind",
            format!("one of: {}", known.join(", ")),
        )
        .into()
    })
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Items<TemplateView>>> {
    let items = app.mail_templates(actor, org_id(&org)?)?;
    Ok(Json(Items { items }))
}

pub async fn put(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<NewTemplate>,
) -> ApiResult<Json<TemplateView>> {
    let template = app
        .put_mail_template(actor, org_id(&org)?, kind(&name)?, body)
        .await?;
    Ok(Json(template))
}

pub async fn delete(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.delete_mail_template(actor, org_id(&org)?, kind(&name)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
