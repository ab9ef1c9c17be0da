//! Decision routes: the log, dry runs, previews, diffs.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::extract::{Auth, JsonBody, Paging, QueryParams};
use super::openapi::Answer;
use super::orgs::org_id;
use super::problem::{ApiError, ApiResult};
use crate::Error;
use crate::app::App;
use crate::app::decisions::{DecisionFilter, EvaluateBody};
use crate::domain::clock::Timestamp;
use crate::policy::Hook;
use crate::policy::verdict::Verdict;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    hook: Option<Hook>,
    #[schemars(example = &"deny")]
    verdict: Option<String>,
    #[schemars(example = &"2026-11-01T00:00:00Z")]
    since: Option<String>,
    #[schemars(example = &"2026-12-01T00:00:00Z")]
    until: Option<String>,
    /// Items in one page (1 to 500, default 50).
    #[schemars(range(min = 1, max = 500))]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[schemars(example = &"0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31")]
    cursor: Option<String>,
}

fn time(field: &str, text: Option<&str>) -> ApiResult<Option<Timestamp>> {
    text.map(|t| {
        Timestamp::parse(t).ok_or_else(|| {
            ApiError(Error::field(
                "query is invalid",
                field,
                format!("`{t}` is not an RFC 3339 time"),
            ))
        })
    })
    .transpose()
}

pub async fn list(
    State(app): State<App>,
    Auth(actor): Auth,
    Path(org): Path<String>,
    QueryParams(q): QueryParams<DecisionQuery>,
) -> ApiResult<Json<impl Answer>> {
    let page = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let verdict = match q.verdict.as_deref() {
        None => None,
        Some(v) => Some(Verdict::parse(v).ok_or_else(|| {
            ApiError(Error::field(
                "query is invalid",
                "verdict",
                format!("`{v}` is not one of: allow, deny, abstain, grant, require_approval"),
            ))
        })?),
    };
    let filter = DecisionFilter {
        hook: q.hook,
        verdict,
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
    };
    Ok(Json(app.list_decisions(
        actor,
        org_id(&org)?,
        &filter,
        page.limit,
        page.after,
    )?))
}

pub async fn evaluate(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<EvaluateBody>,
) -> ApiResult<Json<impl Answer>> {
    Ok(Json(app.evaluate(actor, body).await?))
}

pub async fn preview(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, hook)): Path<(String, String)>,
    JsonBody(body): JsonBody<crate::app::decisions::PreviewBody>,
) -> ApiResult<Json<impl Answer>> {
    let hook = Hook::parse(&hook).ok_or(ApiError(Error::NotFound("hook")))?;
    Ok(Json(app.preview(actor, org_id(&org)?, hook, body).await?))
}

pub async fn diff(
    State(app): State<App>,
    Auth(actor): Auth,
    Path((org, hook)): Path<(String, String)>,
    JsonBody(body): JsonBody<crate::app::policy_diff::DiffBody>,
) -> ApiResult<Json<impl Answer>> {
    let hook = Hook::parse(&hook).ok_or(ApiError(Error::NotFound("hook")))?;
    Ok(Json(
        app.diff_policy(actor, org_id(&org)?, hook, body).await?,
    ))
}
