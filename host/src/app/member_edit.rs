//! Editing a member: the role and extension, which belong to the membership, and the name,
//! e-mail address and portal access, which belong to the person's account.
//!
//! An account shared with other organizations is the person's, not any one organization's:
//! its name, address and portal access are edited only while this organization is the only one
//! the account belongs to (a login-less phone user, a member the organization invited and
//! nobody else); its address only while nobody has claimed the account. Taking portal access
//! away revokes the account's API tokens; giving it invites the member to claim the account.

use serde::Deserialize;
use serde_json::json;

use super::App;
use super::access::{self, Access};
use super::actor::Actor;
use super::invitations::{create_invitation, is_claimed};
use super::journal::{audit, emit};
use super::members::MemberView;
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, UserId};
use crate::domain::member::{
    Membership, MembershipStatus, Role, User, email_problem, extension_problem,
};
use crate::domain::secret::Secret;
use crate::error::{Error, FieldError, Result};
use crate::storage::Tx;

const INVALID: &str = "member is invalid";

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"role": "admin"}))]
#[serde(deny_unknown_fields)]
pub struct MemberEdit {
    pub role: Option<Role>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub portal_access: Option<bool>,
    /// A phone extension in this organization; `""` takes it away.
    pub extension: Option<String>,
}

/// An edited member, and the invitation token when the edit gave portal access (shown once).
pub struct Edited {
    pub member: MemberView,
    pub invitation_token: Option<Secret>,
    /// The invitation went to the member's address (`[smtp]`) instead.
    pub invitation_mailed: bool,
}

impl MemberEdit {
    /// Every bad field at once, before anything is read.
    fn check(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.trim().chars().count() > 200)
        {
            errors.push(FieldError::new("name", "must be 1 to 200 characters"));
        }
        if let Some(problem) = self.email.as_deref().and_then(email_problem) {
            errors.push(FieldError::new("email", problem));
        }
        if let Some(problem) = self
            .extension
            .as_deref()
            .filter(|e| !e.is_empty())
            .and_then(extension_problem)
        {
            errors.push(FieldError::new("extension", problem));
        }
        if self.role == Some(Role::Owner) {
            errors.push(FieldError::new(
                "role",
                "`owner` changes hands by a transfer of ownership or a managed-by switch",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(INVALID, errors))
        }
    }

    fn touches_account(&self) -> bool {
        self.name.is_some() || self.email.is_some() || self.portal_access.is_some()
    }

    fn fields(&self) -> Vec<&'static str> {
        [
            ("role", self.role.is_some()),
            ("name", self.name.is_some()),
            ("email", self.email.is_some()),
            ("portal_access", self.portal_access.is_some()),
            ("extension", self.extension.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }
}

/// Applies the account fields of `edit` to `user`, refusing an account other organizations
/// share and the address of an account someone has claimed. Returns the invitation token
/// when portal access was given.
fn edit_account(
    tx: &Tx<'_>,
    org: OrgId,
    user: &mut User,
    membership: &Membership,
    edit: &MemberEdit,
    now: Timestamp,
) -> Result<Option<Secret>> {
    let view = tx.view();
    let before = user.clone();
    let orgs = view.orgs_of(user.id)?;
    if orgs.iter().any(|o| *o != org) {
        return Err(Error::Conflict(
            "this account also belongs to other organizations: its name, address and portal access are the person's to change".into(),
        ));
    }
    if edit.email.is_some() && is_claimed(&view, user)? {
        return Err(Error::Conflict(
            "this person has signed in: the address is theirs, and an organization does not change it (it would free the address for another account)".into(),
        ));
    }
    if let Some(name) = &edit.name {
        user.name = name.trim().to_owned();
    }
    if let Some(email) = &edit.email {
        // Stored with the user, which refuses another account's address.
        user.email = Some(email.trim().to_owned());
    }
    let mut invitation = None;
    if let Some(portal) = edit.portal_access {
        if portal && user.email.is_none() {
            return Err(Error::field(
                INVALID,
                "portal_access",
                "a member with portal access needs an e-mail address",
            ));
        }
        if !portal && membership.status == MembershipStatus::Invited {
            return Err(Error::Conflict(
                "this member has not accepted the invitation yet: revoke the invitation instead"
                    .into(),
            ));
        }
        if !portal && user.portal_access {
            revoke_tokens(tx, user.id, now)?;
        }
        if portal && !user.portal_access {
            // Portal access is used through a credential: the member gets an invitation to
            // claim the account (shown once), while the membership stays active.
            let claimed = is_claimed(&tx.view(), user)?;
            invitation = Some(create_invitation(tx, org, user, claimed, now)?.1);
        }
        user.portal_access = portal;
    }
    tx.update_user(&before, user)?;
    Ok(invitation)
}

fn revoke_tokens(tx: &Tx<'_>, user: UserId, now: Timestamp) -> Result<()> {
    let view = tx.view();
    for id in view.tokens_of(user)? {
        if let Some(mut token) = view.token(id)?
            && token.revoked_at.is_none()
        {
            token.revoked_at = Some(now);
            tx.put_token(&token)?;
        }
    }
    Ok(())
}

fn authorize_role(app: &App, access: &Access, m: &Membership, to: Role) -> Result<()> {
    if m.role == Role::Owner {
        return Err(Error::Conflict(
            "the owner's role changes by a transfer of ownership or a managed-by switch".into(),
        ));
    }
    app.authorize(
        access,
        "member.update_role",
        json!({"user_id": m.user_id, "from": m.role.as_str(), "to": to.as_str()}),
    )
    .map(|_| ())
}

impl App {
    /// Edits a member (module docs): role changes are `member.update_role` (the owner's, by
    /// default), the rest `member.update` (owners any member, admins plain members).
    pub async fn edit_member(
        &self,
        actor: Actor,
        org: OrgId,
        user: UserId,
        edit: MemberEdit,
    ) -> Result<Edited> {
        edit.check()?;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = access::load(&view, actor, org, now)?;
            let mut m: Membership = view
                .membership(org, user)?
                .ok_or(Error::NotFound("member"))?;
            let mut u: User = view.user(user)?.ok_or(Error::NotFound("member"))?;
            let others: Vec<&str> = edit.fields().into_iter().filter(|f| *f != "role").collect();
            if !others.is_empty() {
                app.authorize(
                    &access,
                    "member.update",
                    json!({"user_id": user, "role": m.role.as_str(), "fields": others}),
                )?;
            }
            if let Some(role) = edit.role {
                authorize_role(&app, &access, &m, role)?;
                m.role = role;
                emit(
                    tx,
                    org,
                    "member.role_changed",
                    json!({"org_id": org, "user_id": user, "role": role}),
                    now,
                )?;
            }
            if let Some(extension) = &edit.extension {
                // Stored with the membership, which refuses another member's extension.
                let extension = extension.trim();
                m.extension = (!extension.is_empty()).then(|| extension.to_owned());
            }
            let mut invitation_token = if edit.touches_account() {
                edit_account(tx, org, &mut u, &m, &edit, now)?
            } else {
                None
            };
            let mut invitation_mailed = false;
            if let Some(token) = invitation_token.take() {
                invitation_token =
                    app.postbox()
                        .invitation(tx, &access.org, &u, m.role, token, now)?;
                invitation_mailed = invitation_token.is_none();
            }
            tx.put_membership(&m)?;
            audit(tx, &access, "member.update", Some(user.to_string()), now)?;
            emit(
                tx,
                org,
                "member.updated",
                json!({"org_id": org, "user_id": user, "role": m.role, "fields": edit.fields()}),
                now,
            )?;
            Ok(Edited {
                member: MemberView::new(&u, &m),
                invitation_token,
                invitation_mailed,
            })
        })
        .await
    }
}
