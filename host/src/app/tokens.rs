//! API tokens: the operator's first token and each user's own tokens.

use serde_json::{Value, json};

use super::actor::Actor;
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::credential::ApiToken;
use crate::domain::ids::{OrgId, TokenId, UserId};
use crate::domain::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::storage::Tx;

const OPERATOR_TOKEN_KEY: &str = "operator_token_id";
pub const TOKEN_PREFIX: &str = "tnt_";
const NAME_MAX: usize = 100;

pub fn issue_token(
    tx: &Tx<'_>,
    user: Option<UserId>,
    name: &str,
    now: Timestamp,
) -> Result<(ApiToken, Secret)> {
    issue_token_ending(tx, user, name, now, Ends::default())
}

/// When a token stops working by itself; an API token never does (`Ends::default()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ends {
    /// However it is used.
    pub at: Option<Timestamp>,
    /// Unless it is used before (a session's idle deadline).
    pub idle: Option<Timestamp>,
}

/// [`issue_token`] for a token that stops working by itself (a sign-in session).
pub fn issue_token_ending(
    tx: &Tx<'_>,
    user: Option<UserId>,
    name: &str,
    now: Timestamp,
    ends: Ends,
) -> Result<(ApiToken, Secret)> {
    let secret = secret::new_token(TOKEN_PREFIX)?;
    let digest = secret::token_digest(secret.expose());
    let token = store_token(tx, user, name, digest, now, ends)?;
    Ok((token, secret))
}

fn store_token(
    tx: &Tx<'_>,
    user: Option<UserId>,
    name: &str,
    digest: String,
    now: Timestamp,
    ends: Ends,
) -> Result<ApiToken> {
    let token = ApiToken {
        id: TokenId::new(),
        user_id: user,
        name: name.to_owned(),
        digest,
        created_at: now,
        revoked_at: None,
        expires_at: ends.at,
        idle_until: ends.idle,
    };
    tx.insert_token(&token)?;
    Ok(token)
}

/// Revokes every unrevoked operator token but `keep`: there is one operator credential.
fn retire_other_operator_tokens(tx: &Tx<'_>, keep: TokenId, now: Timestamp) -> Result<usize> {
    let view = tx.view();
    let mut retired = 0;
    let mut after = None;
    loop {
        let page = view.all_tokens(after, 1_000)?;
        let Some(last) = page.last() else {
            return Ok(retired);
        };
        after = Some(last.id);
        for mut token in page {
            if token.user_id.is_none() && token.revoked_at.is_none() && token.id != keep {
                token.revoked_at = Some(now);
                tx.put_token(&token)?;
                retired += 1;
            }
        }
    }
}

/// Makes `digest` the one operator credential: stored if new, every other one retired.
fn install_operator_token(tx: &Tx<'_>, digest: String, now: Timestamp) -> Result<ApiToken> {
    let token = store_token(tx, None, "operator", digest, now, Ends::default())?;
    tx.put_meta(OPERATOR_TOKEN_KEY, &token.id.key().to_le_bytes())?;
    let retired = retire_other_operator_tokens(tx, token.id, now)?;
    if retired > 0 {
        tracing::warn!(retired, "a new operator token retired the previous one");
    }
    Ok(token)
}

/// On the first start, creates the operator token: from `TENANTRY_OPERATOR_TOKEN` if set,
/// else generated and returned so `serve` can print it once. A configured token that differs
/// from the current one replaces it (the old one stops working); a configured token that was
/// retired (rotated away through the API) stops the server rather than be accepted again.
pub async fn ensure_operator_token(app: &App) -> Result<Option<Secret>> {
    let configured = app.settings.operator_token.clone();
    if configured.as_ref().is_some_and(|t| t.len() < 32) {
        return Err(Error::Setup(
            "TENANTRY_OPERATOR_TOKEN must be at least 32 characters".into(),
        ));
    }
    let now = app.clock.now();
    app.store
        .write(move |tx| {
            let view = tx.view();
            let exists = view.meta(OPERATOR_TOKEN_KEY)?.is_some();
            match configured {
                Some(t) => {
                    let digest = secret::token_digest(&t);
                    match view.token_by_digest(&digest)? {
                        None => {
                            install_operator_token(tx, digest, now)?;
                        }
                        Some(token) => {
                            if token.revoked_at.is_some() || token.user_id.is_some() {
                                return Err(Error::Setup("TENANTRY_OPERATOR_TOKEN names a retired credential (it was rotated): set the current operator token, or a new one".into()));
                            }
                        }
                    }
                    Ok(None)
                }
                None if exists => Ok(None),
                None => {
                    let secret = secret::new_token(TOKEN_PREFIX)?;
                    install_operator_token(tx, secret::token_digest(secret.expose()), now)?;
                    Ok(Some(secret))
                }
            }
        })
        .await
}

/// A token as its owner sees it (never the secret, never the digest).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// When a sign-in session ends by itself; absent on API tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// When a sign-in session ends if it is not used before; absent on API tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_until: Option<Timestamp>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            expires_at: t.expires_at,
            idle_until: t.idle_until,
        }
    }
}

impl App {
    pub fn list_tokens(&self, actor: Actor, page: PageRequest) -> Result<Page<TokenView>> {
        self.authorize_global(actor, "token.list", Value::Null)?;
        self.store.read(|view| {
            let ids = match actor.user_id {
                Some(u) => view.tokens_of(u)?,
                None => vec![actor.token_id],
            };
            let mut items = Vec::new();
            for id in ids
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| id.key() > a))
            {
                if let Some(t) = view.token(id)? {
                    items.push(TokenView::from(&t));
                }
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |t: &TokenView| {
                t.id.key()
            }))
        })
    }

    /// A new operator token, shown once; every other operator token (the caller's included)
    /// is retired in the same transaction. Audited under the platform (organization 0).
    pub async fn rotate_operator_token(&self, actor: Actor) -> Result<(TokenView, Secret)> {
        if !actor.is_operator() {
            return Err(Error::Forbidden {
                reason: "only the platform operator rotates its credential".into(),
                layer: "platform".into(),
            });
        }
        self.authorize_global(actor, "platform.operator_token", Value::Null)?;
        // A console session must not lock the operator out of its own credential.
        let session = self.store.read(|view| {
            Ok(view
                .token(actor.token_id)?
                .is_some_and(|t| t.expires_at.is_some()))
        })?;
        if session {
            return Err(Error::Forbidden {
                reason: "the operator credential is rotated with the credential itself, not a console session".into(),
                layer: "platform".into(),
            });
        }
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let secret = secret::new_token(TOKEN_PREFIX)?;
                let token = install_operator_token(tx, secret::token_digest(secret.expose()), now)?;
                super::journal::audit_as(
                    tx,
                    OrgId::from_key(0),
                    actor,
                    "platform.operator_token",
                    Some(token.id.to_string()),
                    None,
                    now,
                )?;
                Ok((TokenView::from(&token), secret))
            })
            .await
    }

    pub async fn create_token(&self, actor: Actor, name: String) -> Result<(TokenView, Secret)> {
        let length = name.trim().chars().count();
        if length == 0 || length > NAME_MAX {
            return Err(Error::field(
                "token is invalid",
                "name",
                format!("must be 1 to {NAME_MAX} characters"),
            ));
        }
        let Some(user) = actor.user_id else {
            return Err(Error::Forbidden { reason: "the operator has one token, set by TENANTRY_OPERATOR_TOKEN or printed at first start".into(), layer: "platform".into() });
        };
        self.authorize_global(actor, "token.create", json!({"name": name}))?;
        let now = self.clock.now();
        let max = self.settings.quotas.tokens_per_user;
        self.store
            .write(move |tx| {
                let view = tx.view();
                let mut active = 0;
                for id in view.tokens_of(user)? {
                    let token = view.token(id)?;
                    active += usize::from(token.is_some_and(|t| t.revoked_at.is_none()));
                }
                Quotas::check(
                    "tokens_per_user",
                    active,
                    1,
                    max,
                    "revoke a token you no longer use (`DELETE /v1/tokens/{id}`)",
                )?;
                let (token, secret) = issue_token(tx, Some(user), name.trim(), now)?;
                Ok((TokenView::from(&token), secret))
            })
            .await
    }

    pub async fn revoke_token(&self, actor: Actor, id: TokenId) -> Result<()> {
        self.authorize_global(actor, "token.revoke", json!({"token_id": id}))?;
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let mut token: ApiToken = tx.view().token(id)?.ok_or(Error::NotFound("token"))?;
                if token.user_id != actor.user_id || actor.user_id.is_none() {
                    return Err(Error::NotFound("token"));
                }
                if token.revoked_at.is_some() {
                    return Err(Error::Conflict("token is already revoked".into()));
                }
                token.revoked_at = Some(now);
                tx.put_token(&token)?;
                Ok(())
            })
            .await
    }
}
