//! PINs: what login-less users (IP phones, kiosks) and, when an admin asks, portal users give
//! to the devices and services of their organization.
//!
//! A PIN belongs to a membership, so one organization never sets or learns another's. It is
//! stored as salted PBKDF2 and shown once, when generated. Checking one
//! (`POST /v1/orgs/{org}/pins/verify`) answers `{"valid": false}` for a wrong PIN, an unknown
//! member or extension, and a locked member alike, so the answer never says whether someone
//! exists; an unknown member costs the same hashing as a known one. After
//! [`FAILURES_TO_LOCK`] wrong PINs in a row a member's checks fail for [`LOCK`] whatever the PIN
//! (audited), and after [`ORG_FAILURES`] wrong PINs in [`ORG_WINDOW`] across an organization
//! its checks are refused with `429` for the rest of the window, so guessing across members
//! is bounded too. A new PIN from an admin unlocks the member.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::App;
use super::access;
use super::actor::Actor;
use super::journal::audit;
use super::members::{PinRequest, extension_key, prepare_pin};
use crate::domain::ids::{OrgId, UserId};
use crate::domain::member::{Membership, MembershipStatus, User};
use crate::domain::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::storage::tables;

/// Wrong PINs in a row that lock a member's checks.
pub const FAILURES_TO_LOCK: u32 = 5;
/// How long a locked member's checks fail.
pub const LOCK: Duration = Duration::from_secs(15 * 60);
/// Wrong PINs across one organization that refuse its checks for the rest of the window.
pub const ORG_FAILURES: u32 = 50;
pub const ORG_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Who a PIN is checked for: a member by id, or by extension.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinCheck {
    pub user_id: Option<UserId>,
    pub extension: Option<String>,
    pub pin: String,
}

#[derive(Debug, Serialize)]
pub struct PinVerdict {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A new PIN: `auto` (generated, shown once) or 4 to 8 digits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSetting {
    pub pin: String,
}

/// Wrong PINs per organization in the current window (memory only: a restart forgets them,
/// the per-member counts are stored).
#[derive(Clone, Default)]
pub struct OrgFailures(Arc<Mutex<HashMap<OrgId, (Instant, u32)>>>);

impl OrgFailures {
    fn locked(&self, org: OrgId) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (since, n) = map.get(&org)?;
        let left = ORG_WINDOW.checked_sub(since.elapsed())?;
        (*n >= ORG_FAILURES).then_some(left)
    }

    fn failed(&self, org: OrgId) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(org).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= ORG_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        if map.len() > 100_000 {
            map.retain(|_, (since, _)| since.elapsed() < ORG_WINDOW);
        }
    }
}

/// A PIN hash that matches nothing, for the unknown member's equal cost.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| secret::hash_pin("decoy").unwrap_or_default())
}

impl App {
    /// Checks a member's PIN (module docs). `pin.verify` says who may ask: by default the
    /// organization's owner and admins (the accounts its devices and services use).
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
                (Some(user), None) => Some(user.key()),
                (None, Some(ext)) => {
                    view.unique(tables::ORG_EXTENSIONS, &extension_key(org, ext))?
                }
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
                    .pair::<Membership>(tables::MEMBERSHIPS, org.key(), user)?
                    .filter(|m| m.status == MembershipStatus::Active),
                None => None,
            };
            Ok(found)
        })?;
        if let Some(left) = self.pin_failures.locked(org) {
            return Err(Error::RateLimited { retry_after: left });
        }
        let locked = target
            .as_ref()
            .and_then(|m| m.pin_locked_until)
            .is_some_and(|until| now < until);
        let stored = target
            .as_ref()
            .and_then(|m| m.pin_hash.clone())
            .unwrap_or_else(|| decoy().to_owned());
        let pin = check.pin.clone();
        let matches = tokio::task::spawn_blocking(move || secret::verify_pin(&pin, &stored))
            .await
            .map_err(|e| Error::Setup(format!("PIN check failed: {e}")))?;
        let valid = matches && !locked && target.as_ref().is_some_and(|m| m.pin_hash.is_some());
        if !valid {
            self.pin_failures.failed(org);
        }
        let Some(member) = target else {
            return Ok(PinVerdict {
                valid: false,
                user_id: None,
                name: None,
            });
        };
        let user = member.user_id;
        let name = self
            .store
            .write(move |tx| {
                let view = tx.view();
                let Some(mut m) =
                    view.pair::<Membership>(tables::MEMBERSHIPS, org.key(), user.key())?
                else {
                    return Ok(None);
                };
                let access = access::load(&view, actor, org, now)?;
                if valid {
                    if m.pin_failures > 0 {
                        m.pin_failures = 0;
                        tx.put_pair(tables::MEMBERSHIPS, org.key(), user.key(), &m)?;
                    }
                    let u: Option<User> = view.record(tables::USERS, user.key())?;
                    return Ok(u.map(|u| u.name));
                }
                m.pin_failures += 1;
                if m.pin_failures >= FAILURES_TO_LOCK && !locked {
                    m.pin_locked_until = Some(now.plus(LOCK));
                    audit(tx, &access, "pin.locked", Some(user.to_string()), now)?;
                }
                tx.put_pair(tables::MEMBERSHIPS, org.key(), user.key(), &m)?;
                audit(tx, &access, "pin.failed", Some(user.to_string()), now)?;
                Ok(None)
            })
            .await?;
        Ok(PinVerdict {
            valid,
            user_id: valid.then_some(user),
            name: if valid { name } else { None },
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
                .pair(tables::MEMBERSHIPS, org.key(), user.key())?
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
                .pair(tables::MEMBERSHIPS, org.key(), user.key())?
                .ok_or(Error::NotFound("member"))?;
            app.authorize(
                &access,
                "member.pin",
                json!({"user_id": user, "role": m.role.as_str()}),
            )?;
            m.pin_hash = hash;
            m.pin_failures = 0;
            m.pin_locked_until = None;
            tx.put_pair(tables::MEMBERSHIPS, org.key(), user.key(), &m)?;
            audit(tx, &access, "member.pin", Some(user.to_string()), now)?;
            Ok(shown)
        })
        .await
    }
}
