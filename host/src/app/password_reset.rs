//! A password reset by an organization's admin, for a member who forgot theirs: a single-use
//! token (an invitation marked `resets_password`, valid for a day) that the member uses without
//! signing in to choose a new password, which ends their sessions.
//!
//! The trust model holds because a reset is possible only for an account that belongs to the
//! resetting organization alone: an admin of one organization must never get a way into a
//! person's membership of another (that was the account takeover by invitation). An account in
//! several organizations changes its password signed in (`PUT /v1/me/password`). The policy
//! decides who resets whom (`member.password_reset` with the member's role: the platform lets
//! the owner reset anyone and admins reset members), never under a remote-support grant.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::App;
use super::actor::Actor;
use super::invitations::{Accepted, not_found};
use super::journal::audit;
use super::sign_in::end_sessions;
use crate::domain::clock::Timestamp;
use crate::domain::credential::Invitation;
use crate::domain::ids::{EntryId, InvitationId, OrgId, UserId};
use crate::domain::journal::AuditEntry;
use crate::domain::member::{MembershipStatus, User};
use crate::domain::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::storage::{Tx, View};

/// How long a reset token works.
pub const RESET_TTL: Duration = Duration::from_secs(24 * 3_600);

/// A reset issued: its token, shown once, and when it stops working.
#[derive(Debug)]
pub struct Reset {
    pub token: Secret,
    pub expires_at: Timestamp,
}

/// A reset as the API answers it (the token added by the route).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResetView {
    pub user_id: UserId,
    pub expires_at: Timestamp,
}

fn refused(reason: &str) -> Error {
    Error::Forbidden {
        reason: reason.to_owned(),
        layer: "platform".into(),
    }
}

/// Whether `user`'s password may be reset from `org`: a portal user with an account, an
/// active member of `org`, and a member of no other organization.
pub fn check_usable(view: &View<'_>, user: &User, org: OrgId) -> Result<()> {
    if !user.portal_access || user.email.is_none() {
        return Err(refused(
            "a user without portal access has no password: login-less users use their PIN",
        ));
    }
    let active_here = view
        .membership(org, user.id)?
        .is_some_and(|m| m.status == MembershipStatus::Active);
    if !active_here {
        return Err(refused(
            "only an active member's password is reset; an invited one sets theirs by accepting",
        ));
    }
    if view.orgs_of(user.id)?.into_iter().any(|other| other != org) {
        return Err(refused(
            "this account belongs to other organizations too: a reset from here would open them; its owner changes the password signed in",
        ));
    }
    Ok(())
}

/// Uses a reset inside the accepting write: sets the new password, ends the sessions, marks
/// the token used. Anonymous only, and only with a password.
pub(super) fn use_reset(
    tx: &Tx<'_>,
    mut invitation: Invitation,
    actor: Option<Actor>,
    password_hash: Option<String>,
    now: Timestamp,
) -> Result<Accepted> {
    let view = tx.view();
    let (None, Some(hash)) = (actor, password_hash) else {
        return Err(Error::field(
            "invalid password",
            "password",
            "a password reset is used without signing in, with the new `password`",
        ));
    };
    let mut user: User = view.user(invitation.user_id)?.ok_or_else(not_found)?;
    check_usable(&view, &user, invitation.org_id)?;
    let before = user.clone();
    user.password_hash = Some(hash);
    tx.update_user(&before, &user)?;
    end_sessions(tx, user.id, None, now)?;
    invitation.used_at = Some(now);
    tx.put_invitation(&invitation)?;
    // The credential that acted is the reset itself: no token, recorded as none.
    tx.append_audit(
        invitation.org_id,
        &AuditEntry {
            id: EntryId::new(),
            at: now,
            actor: Some(user.id),
            action: "member.password_reset_used".into(),
            target: Some(invitation.id.to_string()),
            grant_id: None,
            credential: None,
        },
    )?;
    Ok(Accepted {
        user,
        org_id: invitation.org_id,
        api_token: None,
    })
}

impl App {
    /// Issues a reset for member `user` of `org`; any earlier unused reset of theirs here ends.
    pub async fn reset_password(&self, actor: Actor, org: OrgId, user: UserId) -> Result<Reset> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            // Whether the organization exists for the caller is told before anything of its
            // members (an outsider gets the 404 of a missing organization).
            let access = super::access::load(&view, actor, org, now)?;
            let membership = view
                .membership(org, user)?
                .ok_or(Error::NotFound("member"))?;
            app.authorize(
                &access,
                "member.password_reset",
                json!({"role": membership.role.as_str()}),
            )?;
            let account = view.user(user)?.ok_or(Error::NotFound("member"))?;
            check_usable(&view, &account, org)?;
            for id in view.invitations_of_org(org)? {
                if view
                    .invitation(id)?
                    .is_some_and(|i| i.user_id == user && i.resets_password && i.used_at.is_none())
                {
                    tx.delete_invitation(id)?;
                }
            }
            let token = secret::new_token("inv_")?;
            let invitation = Invitation {
                id: InvitationId::new(),
                org_id: org,
                user_id: user,
                digest: secret::token_digest(token.expose()),
                created_at: now,
                expires_at: now.plus(RESET_TTL),
                used_at: None,
                to_claimed_identity: true,
                resets_password: true,
            };
            tx.insert_invitation(&invitation)?;
            audit(
                tx,
                &access,
                "member.password_reset",
                Some(user.to_string()),
                now,
            )?;
            Ok(Reset {
                token,
                expires_at: invitation.expires_at,
            })
        })
        .await
    }
}
