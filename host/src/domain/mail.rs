//! E-mail waiting to be sent, and a service provider's own templates.
//!
//! An e-mail is queued in the transaction that made it necessary (the invitation, the plan
//! change, the remote-support request), so it is sent if and only if that change happened.
//! What it says is sealed under the server key: an invitation's values hold the accept link,
//! a credential, and a copy of the database file must not hand it out.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{MailId, OrgId, UserId};
use super::member::Role;
use crate::mail::MailKind;

/// Seconds to wait after the n-th failed attempt (the webhook schedule, shortened: a mail
/// relay that is down for a day has lost the e-mail's point): 5 s, 1 min, 5 min, 30 min,
/// 2 h, 5 h, 10 h; about 17.6 h in all, then the e-mail is dropped and logged.
pub const RETRY_AFTER_SECS: [u64; 7] = [5, 60, 300, 1_800, 7_200, 18_000, 36_000];

/// Invitation e-mails one organization may send to one address in a window of
/// [`ADDRESS_WINDOW_SECS`]: an admin cannot use the server's relay to flood someone, and one
/// organization's invitations cannot use up another's (the budget is per organization).
pub const INVITATIONS_PER_ADDRESS: u32 = 5;
pub const ADDRESS_WINDOW_SECS: u64 = 24 * 3600;

/// What an organization has sent one address in the current window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AddressBudget {
    pub window_start: Timestamp,
    pub sent: u32,
}

impl AddressBudget {
    /// Counts one more e-mail at `now`, or answers how long until the window allows one.
    pub fn spend(budget: Option<Self>, now: Timestamp) -> Result<Self, std::time::Duration> {
        let window = std::time::Duration::from_secs(ADDRESS_WINDOW_SECS);
        match budget {
            Some(b) if now < b.window_start.plus(window) => {
                if b.sent >= INVITATIONS_PER_ADDRESS {
                    let ends = b.window_start.plus(window);
                    Err(std::time::Duration::from_millis(
                        u64::try_from(ends.0 - now.0).unwrap_or(0),
                    ))
                } else {
                    Ok(Self {
                        sent: b.sent + 1,
                        ..b
                    })
                }
            }
            _ => Ok(Self {
                window_start: now,
                sent: 1,
            }),
        }
    }

    /// The key of an address: case and surrounding space do not make a new budget.
    pub fn key_of(address: &str) -> u128 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
        u128::from_be_bytes(digest[..16].try_into().unwrap_or_default())
    }
}

/// Who a queued e-mail goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// One address.
    Address(String),
    /// The active members with one of `roles` of each organization in `orgs`, found by the
    /// delivery task when it sends: reading an organization's members is its work, not the
    /// write transaction's, which every tenant waits for.
    Members { orgs: Vec<OrgId>, roles: Vec<Role> },
}

/// One e-mail: to one address once its members are found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedMail {
    pub id: MailId,
    pub kind: MailKind,
    /// The organization it is about.
    pub org_id: OrgId,
    /// Whose templates it is written with: the organization's service provider (or the
    /// provider itself); none for an organization without one (the defaults).
    pub template_owner: Option<OrgId>,
    pub to: Recipient,
    /// The template's values as JSON, then the text the server adds below it (an
    /// invitation's accept link), sealed with [`sealed_context`].
    pub sealed: Vec<u8>,
    pub queued_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl QueuedMail {
    /// A new e-mail, due now, its content not sealed yet.
    pub fn new(
        kind: MailKind,
        org_id: OrgId,
        template_owner: Option<OrgId>,
        to: Recipient,
        now: Timestamp,
    ) -> Self {
        Self {
            id: MailId::new(),
            kind,
            org_id,
            template_owner,
            to,
            sealed: Vec::new(),
            queued_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
        }
    }

    /// When to try again after one more failure, or `None` when the schedule is used up.
    pub fn retry_at(&self, now: Timestamp) -> Option<Timestamp> {
        let index = usize::try_from(self.attempts.saturating_sub(1)).ok()?;
        let wait = RETRY_AFTER_SECS.get(index)?;
        Some(now.plus(std::time::Duration::from_secs(*wait)))
    }
}

/// What a queued e-mail's sealed part holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailContent {
    pub values: std::collections::BTreeMap<String, String>,
    /// Text the server puts below the template's body, which the template cannot see.
    #[serde(default)]
    pub appended: String,
}

impl MailContent {
    /// The template's values, nothing added below them.
    pub fn of(values: std::collections::BTreeMap<String, String>) -> Self {
        Self {
            values,
            appended: String::new(),
        }
    }
}

/// The context an e-mail's content is sealed under: a sealed part copied onto another queued
/// e-mail does not open.
pub fn sealed_context(id: MailId) -> Vec<u8> {
    format!("mail:{id}").into_bytes()
}

/// A service provider's template for one kind of e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTemplate {
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<UserId>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_fifth_invitation_to_an_address_is_sent_the_sixth_waits_for_the_window() {
        let start = Timestamp(1_000_000);
        let mut budget = None;
        for sent in 1..=INVITATIONS_PER_ADDRESS {
            let spent = AddressBudget::spend(budget, start).unwrap();
            assert_eq!(spent.sent, sent);
            budget = Some(spent);
        }
        let later = start.plus(Duration::from_secs(3600));
        let wait = AddressBudget::spend(budget, later).unwrap_err();
        assert_eq!(wait, Duration::from_secs(ADDRESS_WINDOW_SECS - 3600));
        // One millisecond before the window ends: still refused; at its end: a new window.
        let window = Duration::from_secs(ADDRESS_WINDOW_SECS);
        let almost = Timestamp(start.plus(window).0 - 1);
        assert!(AddressBudget::spend(budget, almost).is_err());
        let renewed = AddressBudget::spend(budget, start.plus(window)).unwrap();
        assert_eq!(
            (renewed.sent, renewed.window_start),
            (1, start.plus(window))
        );
    }

    #[test]
    fn an_address_is_one_budget_whatever_its_case() {
        assert_eq!(
            AddressBudget::key_of("Ada@Example.org "),
            AddressBudget::key_of("ada@example.org")
        );
        assert_ne!(
            AddressBudget::key_of("ada@example.org"),
            AddressBudget::key_of("eve@example.org")
        );
    }
}
