//! Organizations the harnesses act as: created over HTTP, each with an owner who accepted.

use reqwest::Client;
use serde_json::{Value, json};

use crate::text;

/// Creates `slug` (customer-managed, of `kind`) as `token`, and accepts its owner's invitation:
/// the organization's id and its owner's API token.
pub async fn with_owner(
    client: &Client,
    base: &str,
    token: &str,
    slug: &str,
    kind: &str,
) -> anyhow::Result<(String, String)> {
    let org: Value = client
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(token)
        .json(&tenantry_e2e::org_body(slug, kind, "customer", true))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let accepted: Value = client
        .post(format!("{base}/v1/invitations/accept"))
        .json(&json!({"token": org["owner_invitation_token"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((text(&org["id"]), text(&accepted["api_token"])))
}
