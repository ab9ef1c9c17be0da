//! PINs: what login-less users (IP phones, kiosks) and, when an admin asks, portal users give
//! to the devices and services of their organization.
//!
//! A PIN belongs to a membership, so one organization never sets or learns another's. It is
//! stored as salted PBKDF2 and shown once, when generated. Checking one
//! (`POST /v1/orgs/{org}/pins/verify`) answers `{"valid": false}` for a wrong PIN, an unknown
//! member or extension, and a locked member alike, so the answer never says whether someone
//! exists; an unknown member costs the same hashing and the same write as a known one. After
//! [`FAILURES_TO_LOCK`] wrong PINs in a row a member's checks fail for [`LOCK`] whatever the PIN
//! (audited), and after [`ORG_FAILURES`] wrong PINs in [`ORG_WINDOW`] across an organization
//! its checks are refused with `429` for the rest of the window (audited once), so guessing
//! across members is bounded too. Guesses are counted before they are hashed
//! ([`PinAttempts`]): parallel requests get no more guesses than sequential ones. A new PIN
//! from an admin unlocks the member.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::App;
use super::access;
use super::actor::Actor;
use super::journal::audit;
use super::members::{PinRequest, prepare_pin};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, UserId};
use crate::domain::member::{Membership, MembershipStatus, User};
use crate::domain::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::storage::counters::{Counters, Reset};

/// Wrong PINs in a row that lock a member's checks.
pub const FAILURES_TO_LOCK: u32 = 5;
/// How long a locked member's checks fail.
pub const LOCK: Duration = Duration::from_secs(15 * 60);
/// Wrong PINs across one organization that refuse its checks for the rest of the window.
pub const ORG_FAILURES: u32 = 50;
pub const ORG_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Who a PIN is checked for: a member by id, or by extension.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"extension": "204", "pin": "482913"}))]
#[serde(deny_unknown_fields)]
pub struct PinCheck {
    pub user_id: Option<UserId>,
    pub extension: Option<String>,
    pub pin: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PinVerdict {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A new PIN: `auto` (generated, shown once) or 4 to 8 digits.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"pin": "482913"}))]
#[serde(deny_unknown_fields)]
pub struct PinSetting {
    pub pin: String,
}

/// How long a member's count of guesses in flight is kept without a new guess: far longer than
/// one guess takes, so it only forgets the guesses of a server that died mid-way.
const IN_FLIGHT_QUIET: Duration = Duration::from_secs(60);

/// Guesses counted before their PIN is hashed, in the store's counters
/// ([`crate::storage::counters`]), which every server sharing the store shares: parallel
/// requests, on one server or spread over several, get no more guesses than sequential ones.
/// An organization's guesses are counted as wrong when they begin and given back when right
/// ([`ORG_FAILURES`] per [`ORG_WINDOW`]); a member's guesses in flight are counted while they
/// run, so a member has at most [`FAILURES_TO_LOCK`] minus its stored failures in flight. The
/// members' failures and locks are stored with their memberships.
#[derive(Clone)]
pub struct PinAttempts(Arc<dyn Counters>);

impl PinAttempts {
    pub fn new(counters: Arc<dyn Counters>) -> Self {
        Self(counters)
    }
}

/// One counted guess. It counts as a wrong PIN of its organization unless
/// [`Attempt::was_right`] says otherwise (a cancelled request included); its member's count of
/// guesses in flight goes down when it is dropped.
struct Attempt {
    counters: Arc<dyn Counters>,
    org: (String, i64),
    member: Option<(String, i64)>,
    /// The member had no guesses left: the answer is `false` whatever the PIN.
    exhausted: bool,
    /// Wrong, this guess uses up the organization's window.
    is_orgs_last: bool,
}

impl PinAttempts {
    /// Counts a guess at `member` (when known, with its stored failures); refused (429) while
    /// the organization's checks are.
    fn begin(&self, org: OrgId, member: Option<(UserId, u32)>) -> Result<Attempt> {
        let org_key = format!("pin:org:{org}");
        let counted = self
            .0
            .count_up(&org_key, ORG_FAILURES, ORG_WINDOW, Reset::Window)?;
        if !counted.admitted {
            return Err(Error::RateLimited {
                what: "the PIN attempts in this organization",
                retry_after: counted.left.max(Duration::from_secs(1)),
            });
        }
        let mut attempt = Attempt {
            counters: Arc::clone(&self.0),
            org: (org_key, counted.since),
            member: None,
            exhausted: false,
            is_orgs_last: counted.count == ORG_FAILURES,
        };
        if let Some((user, stored)) = member {
            let key = format!("pin:member:{org}:{user}");
            let in_flight = self
                .0
                .count_up(&key, u32::MAX, IN_FLIGHT_QUIET, Reset::Quiet)?;
            attempt.exhausted = stored + in_flight.count.saturating_sub(1) >= FAILURES_TO_LOCK;
            attempt.member = Some((key, in_flight.since));
        }
        Ok(attempt)
    }
}

impl Attempt {
    /// The PIN was right: the organization's count gets this guess back.
    fn was_right(&self) {
        let (key, since) = &self.org;
        if let Err(error) = self.counters.count_down(key, *since) {
            tracing::warn!(%error, "a right PIN stays counted as a guess");
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some((key, since)) = &self.member
            && let Err(error) = self.counters.count_down(key, *since)
        {
            tracing::warn!(%error, "a PIN guess stays counted in flight until its count is quiet");
        }
    }
}

/// A PIN hash that matches nothing, for the unknown member's equal cost.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| secret::hash_pin("decoy").unwrap_or_default())
}

fn is_locked(m: &Membership, now: Timestamp) -> bool {
    m.pin_locked_until.is_some_and(|until| now < until)
}

impl App {
    /// Checks a member's PIN (module docs). `pin.verify` says who may ask: by default the
    /// organization's owner and admins (the accounts its devices and services use).
    ///
    /// Every check, of a known member or not, right or wrong, ends in one write transaction
    /// (a failure count, an audit entry), so its time does not say whether the member exists.
    pub async fn verify_pin(
        &self,
        actor: Actor,
        org: OrgId,
        check: PinCheck,
    ) -> Result<PinVerdict> {
        let now = self.clock.now();
        let target = self.store.read(|view| {
            let access = access::load(view, actor, org, now)?;
            self.authorize(
                &access,
                "pin.verify",
                json!({"by": if check.extension.is_some() { "extension" } else { "user_id" }}),
            )?;
            let user = match (&check.user_id, &check.extension) {
                (Some(user), None) => Some(*user),
                (None, Some(ext)) => view.member_by_extension(org, ext)?,
                _ => {
                    return Err(Error::field(
                        "PIN check is invalid",
                        "user_id",
                        "give exactly one of `user_id` and `extension`",
                    ));
                }
            };
            let found = match user {
                Some(user) => view
                    .membership(org, user)?
                    .filter(|m| m.status == MembershipStatus::Active),
                None => None,
            };
            Ok(found)
        })?;
        let attempt = self
            .pin_attempts
            .begin(org, target.as_ref().map(|m| (m.user_id, m.pin_failures)))?;
        let stored = target
            .as_ref()
            .and_then(|m| m.pin_hash.clone())
            .unwrap_or_else(|| decoy().to_owned());
        let pin = check.pin.clone();
        let matches = tokio::task::spawn_blocking(move || secret::verify_pin(&pin, &stored))
            .await
            .map_err(|e| Error::Setup(format!("PIN check failed: {e}")))?;
        let candidate = matches
            && !attempt.exhausted
            && target
                .as_ref()
                .is_some_and(|m| m.pin_hash.is_some() && !is_locked(m, now));
        let member = target.map(|m| m.user_id);
        let is_orgs_last = attempt.is_orgs_last;
        let (valid, name) = self
            .store
            .write(move |tx| {
                let view = tx.view();
                let access = access::load(&view, actor, org, now)?;
                let stored = match member {
                    Some(user) => view.membership(org, user)?,
                    None => None,
                };
                // A lock written by a parallel guess since the read above still holds.
                let valid = candidate && stored.as_ref().is_some_and(|m| !is_locked(m, now));
                if !valid && is_orgs_last {
                    audit(tx, &access, "pin.org_locked", None, now)?;
                }
                let Some(mut m) = stored else {
                    audit(tx, &access, "pin.failed", None, now)?;
                    return Ok((false, None));
                };
                let user = m.user_id;
                if valid {
                    if m.pin_failures > 0 {
                        m.pin_failures = 0;
                        tx.put_membership(&m)?;
                    }
                    let u: Option<User> = view.user(user)?;
                    return Ok((true, u.map(|u| u.name)));
                }
                if !is_locked(&m, now) {
                    m.pin_failures += 1;
                    if m.pin_failures >= FAILURES_TO_LOCK {
                        // The count starts again when the lock ends: one wrong PIN after it
                        // does not lock again.
                        m.pin_failures = 0;
                        m.pin_locked_until = Some(now.plus(LOCK));
                        audit(tx, &access, "pin.locked", Some(user.to_string()), now)?;
                    }
                    tx.put_membership(&m)?;
                }
                audit(tx, &access, "pin.failed", Some(user.to_string()), now)?;
                Ok((false, None))
            })
            .await?;
        if valid {
            attempt.was_right();
        }
        Ok(PinVerdict {
            valid,
            user_id: if valid { member } else { None },
            name,
        })
    }

    /// Sets or generates a member's PIN in this organization (shown once when generated), and
    /// unlocks its checks. For portal users too, when an admin asks.
    pub async fn set_pin(
        &self,
        actor: Actor,
        org: OrgId,
        user: UserId,
        setting: PinSetting,
    ) -> Result<Option<Secret>> {
        let request = match setting.pin.trim() {
            "auto" => PinRequest::Auto,
            digits => {
                if let Some(problem) = secret::pin_problem(digits) {
                    return Err(Error::field(
                        "PIN is invalid",
                        "pin",
                        format!("{problem}, or `auto`"),
                    ));
                }
                PinRequest::Given(digits.to_owned())
            }
        };
        let now = self.clock.now();
        // Hashing is slow on purpose: only for a caller who may set this member's PIN.
        self.store.read(|view| {
            let access = access::load(view, actor, org, now)?;
            let m: Membership = view
                .membership(org, user)?
                .ok_or(Error::NotFound("member"))?;
            self.authorize(
                &access,
                "member.pin",
                json!({"user_id": user, "role": m.role.as_str()}),
            )
            .map(|_| ())
        })?;
        let (shown, hash) = prepare_pin(&request)?;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let access = access::load(&view, actor, org, now)?;
            let mut m: Membership = view
                .membership(org, user)?
                .ok_or(Error::NotFound("member"))?;
            app.authorize(
                &access,
                "member.pin",
                json!({"user_id": user, "role": m.role.as_str()}),
            )?;
            m.pin_hash = hash;
            m.pin_failures = 0;
            m.pin_locked_until = None;
            tx.put_membership(&m)?;
            audit(tx, &access, "member.pin", Some(user.to_string()), now)?;
            Ok(shown)
        })
        .await
    }
}
