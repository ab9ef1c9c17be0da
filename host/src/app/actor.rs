//! Who is calling: resolved from a bearer token.

use crate::domain::ids::{TokenId, UserId};
use crate::domain::secret;
use crate::error::{Error, Result};

use std::net::IpAddr;

use super::App;
use super::rate_limit::{Caller, Refusal};
use super::sign_in::{IDLE_STEP, SESSION_IDLE};

#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub token_id: TokenId,
    /// None for the platform operator.
    pub user_id: Option<UserId>,
}

impl Actor {
    pub fn is_operator(&self) -> bool {
        self.user_id.is_none()
    }

    /// Who acts, whichever token they used: a user, or the operator.
    pub fn principal(&self) -> String {
        self.user_id
            .map_or_else(|| "operator".to_owned(), |u| u.to_string())
    }
}

fn refused(refusal: Refusal, what: &'static str) -> Error {
    match refusal {
        Refusal::Wait(retry_after) => Error::RateLimited { what, retry_after },
        Refusal::Unavailable(storage) => storage.into(),
    }
}

impl App {
    /// Counts one request against the caller's quota, per principal whatever token it used
    /// (429 when it is used up).
    pub fn admit(&self, actor: Actor) -> Result<()> {
        let caller = match actor.user_id {
            Some(user) => Caller::User(user),
            None => Caller::Operator,
        };
        self.limiter
            .admit(caller)
            .map_err(|refusal| refused(refusal, "the request quota of this caller"))
    }

    /// Counts one request made without a (valid) credential against its address's quota.
    pub fn admit_address(&self, address: Option<IpAddr>) -> Result<()> {
        self.limiter
            .admit(Caller::address(address))
            .map_err(|refusal| refused(refusal, "the request quota of this address"))
    }

    /// Resolves a bearer token. Unknown, malformed, revoked and expired tokens are all 401, alike.
    pub fn authenticate(&self, token: &str) -> Result<Actor> {
        if token.len() > 256 {
            return Err(Error::Unauthorized);
        }
        let digest = secret::token_digest(token);
        let now = self.clock.now();
        // Every request's first read: concurrent ones share a snapshot on PostgreSQL.
        let (actor, lagging) = self.store.read_together(move |view| {
            let stored = view.token_by_digest(&digest)?.ok_or(Error::Unauthorized)?;
            if !secret::digests_match(&stored.digest, &digest) || !stored.live_at(now) {
                return Err(Error::Unauthorized);
            }
            let actor = Actor {
                token_id: stored.id,
                user_id: stored.user_id,
            };
            // A session's idle deadline is written down again once it lags a step behind.
            let due = now.plus(SESSION_IDLE.saturating_sub(IDLE_STEP));
            Ok((actor, stored.idle_until.is_some_and(|idle| idle < due)))
        })?;
        if lagging && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let app = self.clone();
            runtime.spawn(async move {
                if let Err(error) = app.touch_session(actor.token_id).await {
                    tracing::warn!(%error, "a session's idle deadline was not moved");
                }
            });
        }
        Ok(actor)
    }
}
