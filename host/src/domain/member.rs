//! Users and their memberships in organizations.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{OrgId, ResourceId, UserId};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    /// None for users without portal access.
    pub email: Option<String>,
    pub portal_access: bool,
    /// PBKDF2 of the PIN; never serialized to clients (see `api` views).
    pub pin_hash: Option<String>,
    pub created_at: Timestamp,
    /// When the person behind this identity first took a credential for it (by accepting an
    /// invitation). Before that, the identity is only an address someone was invited at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    /// A portal user's password, argon2id ([`super::password`]): set when the identity is
    /// claimed, changed by its owner; never shown to anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Invited, the invitation not yet accepted.
    Invited,
    Active,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
    pub status: MembershipStatus,
    #[serde(default)]
    pub team_ids: Vec<ResourceId>,
    pub created_at: Timestamp,
    /// The name the inviter gave, shown while the membership waits for its acceptance: the
    /// user may already exist in another organization, under a name this one must not learn
    /// before the person joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_as: Option<String>,
    /// The member's PIN in this organization (salted PBKDF2), for the devices and services
    /// that check it. Per membership: one organization never sets another's PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_hash: Option<String>,
    /// The member's phone extension in this organization, unique within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Wrong PINs in a row since the last right one.
    #[serde(default)]
    pub pin_failures: u32,
    /// Until when PIN checks of this member fail whatever the PIN (after too many wrong ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_locked_until: Option<Timestamp>,
}

/// An extension: 1 to 15 digits.
pub fn extension_problem(extension: &str) -> Option<String> {
    let ok = (1..=15).contains(&extension.len()) && extension.bytes().all(|b| b.is_ascii_digit());
    (!ok).then(|| format!("`{extension}` is not an extension: 1 to 15 digits"))
}

/// A plausible email address: one `@`, something on each side, a dot in the domain, ≤ 254.
pub fn email_problem(email: &str) -> Option<String> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    (!ok).then(|| format!("`{email}` is not an email address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(email_problem("a@b.example").is_none());
        for bad in ["", "a", "a@b", "@b.c", "a@.c", "a b@c.d", "a@b@c.d"] {
            assert!(email_problem(bad).is_some(), "{bad}");
        }
    }
}
