//! API tokens and invitations: the stored side of secrets handed out once.

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::ids::{InvitationId, OrgId, TokenId, UserId};

/// Invitations are valid this long.
pub const INVITATION_DAYS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    /// None for the operator token.
    pub user_id: Option<UserId>,
    pub name: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub digest: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// When the token stops working by itself: a sign-in session's ([`crate::app::sign_in`]).
    /// API tokens last until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// A session's idle deadline: it ends if nobody uses it until then. Use moves it on
    /// ([`crate::app::sign_in::SESSION_IDLE`]), never past `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_until: Option<Timestamp>,
}

impl ApiToken {
    /// Whether the token works at `now`: not revoked, not past either deadline.
    pub fn live_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none()
            && self.expires_at.is_none_or(|end| now < end)
            && self.idle_until.is_none_or(|end| now < end)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub digest: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    /// Whether the invitee's identity had been claimed when this was made: such an invitation
    /// is addressed to that account (its owner sees and accepts it signed in). One made before
    /// the claim was addressed to an e-mail address, and is accepted with its own token only.
    #[serde(default)]
    pub to_claimed_identity: bool,
    /// A password reset an admin issued for an active member (`app::password_reset`), not an
    /// invitation to join: used anonymously, once, to set the account's password.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resets_password: bool,
}
