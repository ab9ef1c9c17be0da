//! Signing in with a password, and changing it ([`crate::app::sign_in`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{Anonymous, Auth, JsonBody};
use super::openapi::Answer;
use super::problem::ApiResult;
use super::shown_once::WithToken;
use crate::app::App;
use crate::domain::clock::Timestamp;
use crate::domain::ids::{TokenId, UserId};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"email": "ana@acme.example", "password": "correct horse battery staple"}))]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    email: String,
    password: String,
}

/// A sign-in session: a bearer token that ends by itself at `expires_at`, listed with the
/// caller's tokens (`GET /v1/tokens`) and revoked like them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SessionView {
    /// The token's id, for `DELETE /v1/tokens/{id}` (signing out).
    id: TokenId,
    user_id: UserId,
    expires_at: Timestamp,
}

pub async fn sign_in(
    State(app): State<App>,
    Anonymous(address): Anonymous,
    JsonBody(body): JsonBody<SignInBody>,
) -> ApiResult<Json<impl Answer>> {
    let signed_in = app.sign_in(&body.email, &body.password, address).await?;
    let view = SessionView {
        id: signed_in.token_id,
        user_id: signed_in.user_id,
        expires_at: signed_in.expires_at,
    };
    Ok(Json(WithToken::new(view, &signed_in.token)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"current_password": "correct horse battery staple", "new_password": "a longer one, never reused"}))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required once the account has a password; left out to set the first one (an account
    /// that accepted its invitation without one).
    #[serde(default)]
    current_password: Option<String>,
    /// 12 characters to 128 bytes.
    new_password: String,
}

pub async fn change_password(
    State(app): State<App>,
    Auth(actor): Auth,
    JsonBody(body): JsonBody<PasswordChange>,
) -> ApiResult<StatusCode> {
    app.change_password(actor, body.current_password.as_deref(), &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
