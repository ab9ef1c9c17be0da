//! API tokens: the operator's first token and each user's own tokens.

use serde_json::{Value, json};

use super::actor::Actor;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::credential::ApiToken;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::storage::{Tx, tables};

const OPERATOR_TOKEN_KEY: &str = "operator_token_id";
pub const TOKEN_PREFIX: &str = "tnt_";
const NAME_MAX: usize = 100;

pub fn issue_token(
    tx: &Tx<'_>,
    user: Option<UserId>,
    name: &str,
    now: Timestamp,
) -> Result<(ApiToken, Secret)> {
    let secret = secret::new_token(TOKEN_PREFIX)?;
    let token = store_token(tx, user, name, secret::token_digest(secret.expose()), now)?;
    Ok((token, secret))
}

fn store_token(
    tx: &Tx<'_>,
    user: Option<UserId>,
    name: &str,
    digest: String,
    now: Timestamp,
) -> Result<ApiToken> {
    let token = ApiToken {
        id: TokenId::new(),
        user_id: user,
        name: name.to_owned(),
        digest,
        created_at: now,
        revoked_at: None,
    };
    tx.put(tables::TOKENS, token.id.key(), &token)?;
    tx.set_unique(tables::TOKEN_BY_HASH, &token.digest, token.id.key())?;
    if let Some(u) = user {
        tx.add_child(tables::USER_TOKENS, u.key(), token.id.key())?;
    }
    Ok(token)
}

/// On the first start, creates the operator token: from `TENANTRY_OPERATOR_TOKEN` if set,
/// else generated and returned so `serve` can print it once. Later starts only make sure a
/// configured token is registered.
pub async fn ensure_operator_token(app: &App) -> Result<Option<Secret>> {
    let configured = app.settings.operator_token.clone();
    if configured.as_ref().is_some_and(|t| t.len() < 32) {
        return Err(Error::Policy(
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
                    if view.unique(tables::TOKEN_BY_HASH, &digest)?.is_none() {
                        let token = store_token(tx, None, "operator", digest, now)?;
                        tx.put_meta(OPERATOR_TOKEN_KEY, &token.id.key().to_le_bytes())?;
                    }
                    Ok(None)
                }
                None if exists => Ok(None),
                None => {
                    let (token, secret) = issue_token(tx, None, "operator", now)?;
                    tx.put_meta(OPERATOR_TOKEN_KEY, &token.id.key().to_le_bytes())?;
                    Ok(Some(secret))
                }
            }
        })
        .await
}

/// A token as its owner sees it (never the secret, never the digest).
#[derive(Debug, serde::Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

impl App {
    pub fn list_tokens(&self, actor: Actor, page: PageRequest) -> Result<Page<TokenView>> {
        self.authorize_global(actor, "token.list", Value::Null)?;
        self.store.read(|view| {
            let ids = match actor.user_id {
                Some(u) => view.children(tables::USER_TOKENS, u.key())?,
                None => vec![actor.token_id.key()],
            };
            let mut items = Vec::new();
            for id in ids
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| *id > a))
            {
                if let Some(t) = view.record::<ApiToken>(tables::TOKENS, id)? {
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
        self.store
            .write(move |tx| {
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
                let mut token: ApiToken = tx
                    .view()
                    .record(tables::TOKENS, id.key())?
                    .ok_or(Error::NotFound("token"))?;
                if token.user_id != actor.user_id || actor.user_id.is_none() {
                    return Err(Error::NotFound("token"));
                }
                if token.revoked_at.is_some() {
                    return Err(Error::Conflict("token is already revoked".into()));
                }
                token.revoked_at = Some(now);
                tx.put(tables::TOKENS, id.key(), &token)?;
                Ok(())
            })
            .await
    }
}
