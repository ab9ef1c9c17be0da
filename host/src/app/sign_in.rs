//! Signing in with an e-mail address and a password, for portal users (DESIGN: login-less users
//! have PINs and no sign-in), and changing one's password.
//!
//! A sign-in answers a session: a bearer token like any other, listed and revoked with the
//! caller's tokens, that stops working by itself after [`SESSION`]. Guessing is bounded twice,
//! in the store's counters so that it holds across servers: [`ATTEMPTS_PER_ACCOUNT`] per
//! address signed in as, and [`ATTEMPTS_PER_ADDRESS`] per client address, each per
//! [`WINDOW`]; a failed attempt also waits longer the more attempts its account has had. An
//! unknown address, a login-less user, a user with no password yet and a wrong password all
//! answer the same, after the same work (a password hash is checked in every case).

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use super::App;
use super::actor::Actor;
use super::rate_limit::Caller;
use super::tokens::{Ends, TokenView, issue_token_ending};
use crate::domain::clock::Timestamp;
use crate::domain::credential::ApiToken;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::password;
use crate::domain::secret::{self, Secret};
use crate::error::{Error, FieldError, Result};
use crate::storage::Tx;
use crate::storage::counters::Reset;

/// How long a session lasts, however busy: it is not extended by use.
pub const SESSION: Duration = Duration::from_secs(12 * 3_600);
/// How long a session lasts unused: each use moves its idle deadline this far ahead.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// How far a session's idle deadline may lag behind its last use before the use writes it
/// down: a busy session costs one write per step, not one per request.
pub const IDLE_STEP: Duration = Duration::from_secs(5 * 60);
/// Sign-in attempts as one address (e-mail) per [`WINDOW`], right or wrong; a right one is
/// given back.
pub const ATTEMPTS_PER_ACCOUNT: u32 = 10;
/// Sign-in attempts from one client address (an IPv6 /64) per [`WINDOW`]: an office behind
/// one address signs many people in.
pub const ATTEMPTS_PER_ADDRESS: u32 = 100;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Live sessions one user keeps; signing in once more ends the oldest.
pub const SESSIONS_PER_USER: usize = 10;
/// The longest e-mail address looked up (RFC 5321's path limit).
const EMAIL_MAX: usize = 254;

/// What a successful sign-in answers: the session's secret, shown once.
pub struct SignedIn {
    pub user_id: UserId,
    pub token_id: TokenId,
    pub token: Secret,
    pub expires_at: Timestamp,
}

/// How long a failed attempt waits before it is answered: nothing for the first, then 100 ms
/// more for each attempt its account had in the window, at most a second.
fn failure_delay(attempts: u32) -> Duration {
    Duration::from_millis(100 * u64::from(attempts.saturating_sub(1)).min(10))
}

/// The counters' key for attempts as `email`: a digest, so the table does not list addresses.
fn account_key(email: &str) -> String {
    format!(
        "signin:account:{}",
        secret::token_digest(&email.trim().to_lowercase())
    )
}

fn address_key(address: Option<IpAddr>) -> String {
    match Caller::address(address) {
        Caller::Address(Some(address)) => format!("signin:address:{address}"),
        _ => "signin:address:unknown".to_owned(),
    }
}

/// Runs a password hash or check on the blocking pool, one at a time per server: each costs
/// about 30 ms of a core and 19 MiB, so a flood of sign-ins waits for itself, not the cores
/// every tenant's requests use.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let _turn = ONE_AT_A_TIME
        .acquire()
        .await
        .map_err(|_| Error::Setup("the password hashing queue is closed".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Setup(format!("hashing a password: {e}")))
}

/// A password's stored form, computed off the request's thread.
pub async fn hash_password(password: String) -> Result<String> {
    hashing(move || password::hash(&password)).await?
}

/// Ends every sign-in session of `user` but `keep` (API tokens stay): whoever knew the old
/// password is signed out.
pub fn end_sessions(
    tx: &Tx<'_>,
    user: UserId,
    keep: Option<TokenId>,
    now: Timestamp,
) -> Result<()> {
    let view = tx.view();
    for id in view.tokens_of(user)? {
        let Some(mut token) = view.token(id)? else {
            continue;
        };
        if token.expires_at.is_some() && Some(token.id) != keep {
            token.revoked_at.get_or_insert(now);
            tx.put_token(&token)?;
        }
    }
    Ok(())
}

/// The error of a password that breaks the rules, naming `field`.
pub fn check_password(field: &str, password: &str) -> Result<()> {
    match password::problem(password) {
        Some(reason) => Err(Error::field("invalid password", field, reason)),
        None => Ok(()),
    }
}

impl App {
    /// Signs a portal user in. Every failure is [`Error::SignInFailed`], alike.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<SignedIn> {
        self.count_attempt_from(address)?;
        let counters = self.store.counters();
        let account = account_key(email);
        let as_account =
            counters.count_up(&account, ATTEMPTS_PER_ACCOUNT, WINDOW, Reset::Window)?;
        if !as_account.admitted {
            return Err(Error::RateLimited {
                what: "the quota of sign-in attempts for this account",
                retry_after: as_account.left,
            });
        }

        let found = if email.len() > EMAIL_MAX || password.len() > password::MAX_BYTES {
            None
        } else {
            let email = email.trim().to_owned();
            self.store.read(move |view| {
                let Some(id) = view.user_by_email(&email)? else {
                    return Ok(None);
                };
                Ok(view
                    .user(id)?
                    .filter(|user| user.portal_access)
                    .and_then(|user| Some((user.id, user.password_hash?))))
            })?
        };
        let (user, stored) = match found {
            Some((user, stored)) => (Some(user), stored),
            None => (None, password::stand_in().to_owned()),
        };
        let offered = password.to_owned();
        let right = hashing(move || password::verify(&stored, &offered)).await?;
        let Some(user) = user.filter(|_| right) else {
            tokio::time::sleep(failure_delay(as_account.count)).await;
            return Err(Error::SignInFailed);
        };
        // The owner got in: their attempt is not held against them.
        counters.count_down(&account, as_account.since)?;

        let now = self.clock.now();
        let expires_at = now.plus(SESSION);
        self.store
            .write(move |tx| {
                let view = tx.view();
                // Removed, or moved off the portal, since the check: no session.
                let still = view.user(user)?.is_some_and(|u| u.portal_access);
                if !still {
                    return Err(Error::SignInFailed);
                }
                let mut live: Vec<ApiToken> = Vec::new();
                for id in view.tokens_of(user)? {
                    let Some(token) = view.token(id)? else {
                        continue;
                    };
                    match token.expires_at {
                        // An ended session is forgotten: its digest names nothing.
                        Some(_) if !token.live_at(now) => tx.delete_token(&token)?,
                        Some(_) => live.push(token),
                        None => {}
                    }
                }
                live.sort_by_key(|t| t.created_at);
                let ending = (live.len() + 1).saturating_sub(SESSIONS_PER_USER);
                for mut oldest in live.into_iter().take(ending) {
                    oldest.revoked_at = Some(now);
                    tx.put_token(&oldest)?;
                }
                let ends = Ends {
                    at: Some(expires_at),
                    idle: Some(now.plus(SESSION_IDLE).min(expires_at)),
                };
                let (token, secret) = issue_token_ending(tx, Some(user), "sign-in", now, ends)?;
                Ok(SignedIn {
                    user_id: user,
                    token_id: token.id,
                    token: secret,
                    expires_at,
                })
            })
            .await
    }

    /// Changes the caller's password, given the current one; every other session of theirs
    /// ends (whoever knew the old password is signed out). Checking the current password
    /// counts against the account's sign-in attempts, so a stolen session cannot guess it.
    /// An account that has none yet (it accepted its invitation without one, or before
    /// passwords existed) sets its first with `current` left out: it was authenticated by an
    /// API token, and a session cannot exist without a password.
    pub async fn change_password(
        &self,
        actor: Actor,
        current: Option<&str>,
        new: &str,
    ) -> Result<()> {
        let user = actor.user_id.ok_or(Error::Forbidden {
            reason: "the operator signs in with the operator credential, not a password".into(),
            layer: "platform".into(),
        })?;
        self.authorize_global(actor, "account.password", json!({}))?;
        check_password("new_password", new)?;
        let stored = self.store.read(move |view| {
            Ok(view
                .user(user)?
                .filter(|u| u.portal_access)
                .map(|u| (u.email, u.password_hash)))
        })?;
        let Some((Some(email), checked)) = stored else {
            return Err(Error::field(
                "no password",
                "current_password",
                "only portal users have a password",
            ));
        };
        match (&checked, current) {
            (Some(stored), Some(current)) => {
                self.check_current_password(&email, stored, current).await?;
            }
            (Some(_), None) => {
                return Err(Error::field(
                    "current password needed",
                    "current_password",
                    "is required: this account has a password",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::field(
                    "no current password",
                    "current_password",
                    "this account has no password yet: leave `current_password` out to set its first",
                ));
            }
            (None, None) => {}
        }
        let hash = hash_password(new.to_owned()).await?;
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let view = tx.view();
                let mut stored = view.user(user)?.ok_or(Error::Unauthorized)?;
                if stored.password_hash != checked {
                    return Err(Error::Conflict(
                        "the password was changed meanwhile; sign in again".into(),
                    ));
                }
                let before = stored.clone();
                stored.password_hash = Some(hash);
                tx.update_user(&before, &stored)?;
                end_sessions(tx, user, Some(actor.token_id), now)
            })
            .await
    }
    /// Checks `current` against `stored`, counted against the account's sign-in attempts.
    async fn check_current_password(&self, email: &str, stored: &str, current: &str) -> Result<()> {
        let counters = self.store.counters();
        let account = account_key(email);
        let attempt = counters.count_up(&account, ATTEMPTS_PER_ACCOUNT, WINDOW, Reset::Window)?;
        if !attempt.admitted {
            return Err(Error::RateLimited {
                what: "the quota of sign-in attempts for this account",
                retry_after: attempt.left,
            });
        }
        let (stored, offered) = (stored.to_owned(), current.to_owned());
        if current.len() > password::MAX_BYTES
            || !hashing(move || password::verify(&stored, &offered)).await?
        {
            tokio::time::sleep(failure_delay(attempt.count)).await;
            return Err(Error::invalid(
                "wrong password",
                vec![FieldError::new(
                    "current_password",
                    "is not this account's password",
                )],
            ));
        }
        counters.count_down(&account, attempt.since)?;
        Ok(())
    }
}

impl App {
    /// Counts a sign-in attempt from `address`; 429 past [`ATTEMPTS_PER_ADDRESS`].
    fn count_attempt_from(&self, address: Option<IpAddr>) -> Result<()> {
        let from_address = self.store.counters().count_up(
            &address_key(address),
            ATTEMPTS_PER_ADDRESS,
            WINDOW,
            Reset::Window,
        )?;
        if !from_address.admitted {
            return Err(Error::RateLimited {
                what: "the quota of sign-in attempts from this address",
                retry_after: from_address.left,
            });
        }
        Ok(())
    }

    /// The operator signs in to the console with its credential and gets a session like a
    /// person's (ending after [`SESSION`], or [`SESSION_IDLE`] unused), so the credential
    /// itself never sits in a browser. Attempts count against the client address's quota;
    /// anything but the live operator credential (a session included) fails alike.
    pub async fn operator_sign_in(
        &self,
        credential: &str,
        address: Option<IpAddr>,
    ) -> Result<Secret> {
        self.count_attempt_from(address)?;
        let now = self.clock.now();
        let digest = secret::token_digest(credential);
        let credential_ok = credential.len() <= 256
            && self.store.read(move |view| {
                Ok(view.token_by_digest(&digest)?.is_some_and(|t| {
                    secret::digests_match(&t.digest, &digest)
                        && t.user_id.is_none()
                        && t.expires_at.is_none()
                        && t.live_at(now)
                }))
            })?;
        if !credential_ok {
            tokio::time::sleep(failure_delay(ATTEMPTS_PER_ACCOUNT)).await;
            return Err(Error::SignInFailed);
        }
        let expires_at = now.plus(SESSION);
        self.store
            .write(move |tx| {
                let ends = Ends {
                    at: Some(expires_at),
                    idle: Some(now.plus(SESSION_IDLE).min(expires_at)),
                };
                let (_, secret) = issue_token_ending(tx, None, "operator sign-in", now, ends)?;
                Ok(secret)
            })
            .await
    }

    /// Ends the caller's own session (signing out); an API token or the operator credential
    /// is not a session and stays.
    pub async fn sign_out(&self, actor: Actor) -> Result<()> {
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let Some(mut token) = tx.view().token(actor.token_id)? else {
                    return Ok(());
                };
                if token.expires_at.is_some() && token.revoked_at.is_none() {
                    token.revoked_at = Some(now);
                    tx.put_token(&token)?;
                }
                Ok(())
            })
            .await
    }

    /// The caller's live sign-in sessions, the newest first.
    pub fn sessions(&self, actor: Actor) -> Result<Vec<TokenView>> {
        let Some(user) = actor.user_id else {
            return Ok(Vec::new());
        };
        self.authorize_global(actor, "token.list", json!({}))?;
        let now = self.clock.now();
        self.store.read(|view| {
            let mut live = Vec::new();
            for id in view.tokens_of(user)?.into_iter().rev() {
                if let Some(token) = view.token(id)?
                    && token.expires_at.is_some()
                    && token.live_at(now)
                {
                    live.push(TokenView::from(&token));
                }
            }
            Ok(live)
        })
    }

    /// Moves session `id`'s idle deadline to [`SESSION_IDLE`] from now (never past its end),
    /// if it is still live and the deadline is behind. Called after a use found it lagging by
    /// more than [`IDLE_STEP`]; idempotent, so requests of one session racing to it do no harm.
    pub async fn touch_session(&self, id: TokenId) -> Result<()> {
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let Some(mut token) = tx.view().token(id)? else {
                    return Ok(());
                };
                let (Some(idle), Some(end)) = (token.idle_until, token.expires_at) else {
                    return Ok(());
                };
                let moved = now.plus(SESSION_IDLE).min(end);
                if token.live_at(now) && idle < moved {
                    token.idle_until = Some(moved);
                    tx.put_token(&token)?;
                }
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_waits_longer_the_more_attempts_its_account_had() {
        assert_eq!(failure_delay(1), Duration::ZERO);
        assert_eq!(failure_delay(2), Duration::from_millis(100));
        assert_eq!(failure_delay(11), Duration::from_secs(1));
        assert_eq!(failure_delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn an_address_is_counted_whatever_its_case_and_never_in_clear() {
        assert_eq!(
            account_key("Ana@Example.com "),
            account_key("ana@example.com")
        );
        assert!(!account_key("ana@example.com").contains("example"));
    }
}
