//! Invitations: how a person joins an organization, and how an identity comes to exist.
//!
//! A user is an identity; an invitation grants a membership, never an identity that exists
//! already. An e-mail address names at most one user across every organization, and that user
//! is *claimed* by whoever first accepts an invitation for it without signing in (the first API
//! token is issued then), which only a portal user active in no other organization can be. From
//! that moment:
//! - an invitation for that user is accepted only by the user, signed in: the bearer token
//!   must be the invitee's own, and the membership joins their account; anonymously it is
//!   refused with `401 sign-in required` saying so, whoever holds the invitation token;
//! - invitations made after the claim are addressed to the account: the invitee lists them
//!   (`GET /v1/invitations`) and accepts or declines them by id. Ones made before the claim
//!   were addressed to an e-mail address, not to whoever claimed it, and are accepted with
//!   their own token only (signed in), so the first to claim an address does not thereby
//!   reach what other organizations sent to it earlier.
//!
//! Until e-mail delivery exists the inviter hands the first token to the invitee, so an address
//! is not verified: THREATS.md says what that leaves open.

use serde::Serialize;
use serde_json::json;

use super::access;
use super::actor::Actor;
use super::journal::{audit, audit_as, emit};
use super::{App, Page, PageRequest, members};
use crate::domain::clock::Timestamp;
use crate::domain::credential::{INVITATION_DAYS, Invitation};
use crate::domain::ids::{InvitationId, OrgId, UserId};
use crate::domain::member::{Membership, MembershipStatus, Role, User};
use crate::domain::privilege::Standing;
use crate::domain::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::storage::{Tx, View};

/// Whether someone has taken a credential for `user` (files from before `claimed_at` existed
/// tell by the tokens issued).
pub fn is_claimed(view: &View<'_>, user: &User) -> Result<bool> {
    Ok(user.claimed_at.is_some() || !view.tokens_of(user.id)?.is_empty())
}

/// Whether an anonymous accept of an invitation to `org` may give `user` their first
/// credential. Only a portal user nobody has claimed, and who is an active member nowhere but
/// in `org` itself: an identity already in use elsewhere (a login-less member, a member loaded
/// in bulk, both active without a credential) is not handed to whoever holds an invitation
/// another organization made for its address.
fn may_claim(view: &View<'_>, user: &User, org: OrgId) -> Result<bool> {
    if !user.portal_access || is_claimed(view, user)? {
        return Ok(false);
    }
    for other in view.orgs_of(user.id)? {
        if other == org {
            continue;
        }
        let membership = view.membership(other, user.id)?;
        if membership.is_some_and(|m| m.status == MembershipStatus::Active) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Makes a single-use invitation for `user` to `org`; returns it and its token (shown once).
/// `claimed`: whether `user` already has a credential ([`is_claimed`]); its caller may know
/// without asking the store (a user created in the same write has none).
pub fn create_invitation(
    tx: &Tx<'_>,
    org: OrgId,
    user: &User,
    claimed: bool,
    now: Timestamp,
) -> Result<(Invitation, Secret)> {
    let token = secret::new_token("inv_")?;
    let invitation = Invitation {
        id: InvitationId::new(),
        org_id: org,
        user_id: user.id,
        digest: secret::token_digest(token.expose()),
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(INVITATION_DAYS * 24 * 3600)),
        used_at: None,
        to_claimed_identity: claimed,
        resets_password: false,
    };
    tx.insert_invitation(&invitation)?;
    Ok((invitation, token))
}

/// How the invitee names the invitation they accept.
#[derive(Debug, Clone)]
pub enum Naming {
    /// The token the inviter handed over.
    Token(String),
    /// The id from `GET /v1/invitations` (signed in only).
    Id(InvitationId),
}

/// A membership that became active; a new identity's first token, shown once.
#[derive(Debug)]
pub struct Accepted {
    pub user: User,
    pub org_id: OrgId,
    /// Only when this acceptance claimed a new identity.
    pub api_token: Option<Secret>,
}

/// A pending invitation as its invitee sees it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InvitationView {
    pub id: InvitationId,
    pub org: InvitingOrg,
    pub role: Role,
    pub invited_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InvitingOrg {
    pub id: OrgId,
    pub name: String,
    pub tenant_id: String,
}

const SIGN_IN: &str = "this invitation is for an existing account: accept it signed in as that account (`Authorization: Bearer` with its API token), or from `GET /v1/invitations`";

fn no_password_for_login_less() -> Error {
    Error::field(
        "invalid password",
        "password",
        "a user without portal access has no password: login-less users use their PIN",
    )
}

pub(super) fn not_found() -> Error {
    Error::NotFound("invitation")
}

/// The invitation named, usable now, with the check that `actor` may act on it.
fn find(
    view: &View<'_>,
    naming: &Naming,
    actor: Option<Actor>,
    now: Timestamp,
) -> Result<Invitation> {
    let invitation: Invitation = match naming {
        Naming::Token(token) => {
            let digest = secret::token_digest(token);
            let invitation = view.invitation_by_digest(&digest)?.ok_or_else(not_found)?;
            if !secret::digests_match(&invitation.digest, &digest) {
                return Err(not_found());
            }
            invitation
        }
        Naming::Id(id) => {
            let invitation = view.invitation(*id)?.ok_or_else(not_found)?;
            // By id, only the invitee's own account-addressed invitations exist.
            if actor.and_then(|a| a.user_id) != Some(invitation.user_id)
                || !invitation.to_claimed_identity
                || invitation.resets_password
            {
                return Err(not_found());
            }
            invitation
        }
    };
    if invitation.used_at.is_some() {
        return Err(Error::Gone("this invitation was already used".into()));
    }
    if now >= invitation.expires_at {
        return Err(Error::Gone(format!(
            "this invitation expired at {}",
            invitation.expires_at.to_rfc3339()
        )));
    }
    if let Some(actor) = actor
        && actor.user_id != Some(invitation.user_id)
    {
        return Err(Error::Forbidden {
            reason: "this invitation is addressed to another account; only its invitee accepts it"
                .into(),
            layer: "platform".into(),
        });
    }
    Ok(invitation)
}

impl App {
    /// Accepts an invitation: anonymously for an identity nobody has claimed yet (which claims
    /// it, issues its first API token and, for a portal user, may set the password they sign
    /// in with), signed in as the invitee otherwise.
    pub async fn accept_invitation(
        &self,
        actor: Option<Actor>,
        naming: Naming,
        password: Option<String>,
    ) -> Result<Accepted> {
        let password_hash = match password {
            Some(password) => Some(self.password_for_claim(actor, &naming, password).await?),
            None => None,
        };
        let app = self.clone();
        self.store
            .write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let mut invitation = find(&view, &naming, actor, now)?;
                if invitation.resets_password {
                    return super::password_reset::use_reset(
                        tx,
                        invitation,
                        actor,
                        password_hash,
                        now,
                    );
                }
                let mut user: User = view.user(invitation.user_id)?.ok_or_else(not_found)?;
                if actor.is_none() && !may_claim(&view, &user, invitation.org_id)? {
                    return Err(Error::SignInRequired(SIGN_IN.into()));
                }
                if password_hash.is_some() && !user.portal_access {
                    return Err(no_password_for_login_less());
                }
                let mut membership: Membership = view
                    .membership(invitation.org_id, invitation.user_id)?
                    .ok_or_else(not_found)?;
                membership.status = MembershipStatus::Active;
                tx.put_membership(&membership)?;
                invitation.used_at = Some(now);
                tx.put_invitation(&invitation)?;
                let (acting, api_token) = match actor {
                    Some(actor) => (actor, None),
                    None => {
                        let (token, secret) =
                            super::tokens::issue_token(tx, Some(user.id), "invitation", now)?;
                        let unclaimed = user.clone();
                        user.claimed_at = Some(now);
                        user.password_hash = password_hash;
                        tx.update_user(&unclaimed, &user)?;
                        (
                            Actor {
                                token_id: token.id,
                                user_id: Some(user.id),
                            },
                            Some(secret),
                        )
                    }
                };
                audit_as(
                    tx,
                    invitation.org_id,
                    acting,
                    "invitation.accept",
                    Some(user.id.to_string()),
                    None,
                    now,
                )?;
                emit(
                    tx,
                    invitation.org_id,
                    "invitation.accepted",
                    json!({"org_id": invitation.org_id, "user_id": user.id}),
                    now,
                )?;
                Ok(Accepted {
                    user,
                    org_id: invitation.org_id,
                    api_token,
                })
            })
            .await
    }

    /// The stored form of the password a new identity sets as it claims itself, hashed only
    /// once the invitation is known to allow it (an anonymous caller with a made-up token
    /// costs no hash). The write checks everything again.
    async fn password_for_claim(
        &self,
        actor: Option<Actor>,
        naming: &Naming,
        password: String,
    ) -> Result<String> {
        super::sign_in::check_password("password", &password)?;
        if actor.is_some() {
            return Err(Error::field(
                "invalid password",
                "password",
                "an account keeps its password when it accepts an invitation; change it with `PUT /v1/me/password`",
            ));
        }
        let now = self.clock.now();
        let naming = naming.clone();
        self.store.read(move |view| {
            let invitation = find(view, &naming, None, now)?;
            let user = view.user(invitation.user_id)?.ok_or_else(not_found)?;
            if invitation.resets_password {
                return super::password_reset::check_usable(view, &user, invitation.org_id);
            }
            if !may_claim(view, &user, invitation.org_id)? {
                return Err(Error::SignInRequired(SIGN_IN.into()));
            }
            if !user.portal_access {
                return Err(no_password_for_login_less());
            }
            Ok(())
        })?;
        super::sign_in::hash_password(password).await
    }

    /// Declines an invitation addressed to the caller's account: the pending membership goes.
    pub async fn decline_invitation(&self, actor: Actor, id: InvitationId) -> Result<()> {
        let app = self.clone();
        self.store
            .write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let invitation = find(&view, &Naming::Id(id), Some(actor), now)?;
                let (org, user) = (invitation.org_id, invitation.user_id);
                let membership: Membership = view
                    .membership(org, user)?
                    .ok_or_else(not_found)?;
                if membership.role == Role::Owner {
                    return Err(Error::Conflict(
                        "an owner's invitation is not declined: ask the organization's service provider to hand ownership to someone else".into(),
                    ));
                }
                members::remove_membership(tx, org, user, &membership)?;
                audit_as(
                    tx,
                    org,
                    actor,
                    "invitation.decline",
                    Some(user.to_string()),
                    None,
                    now,
                )?;
                emit(
                    tx,
                    org,
                    "invitation.declined",
                    json!({"org_id": org, "user_id": user}),
                    now,
                )?;
                Ok(())
            })
            .await
    }

    /// The invitations addressed to the caller's account that wait for an answer.
    pub fn my_invitations(&self, actor: Actor) -> Result<Vec<InvitationView>> {
        let Some(user) = actor.user_id else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        self.store.read(|view| {
            let mut out = Vec::new();
            for id in view.invitations_to(user)? {
                let Some(inv) = view.invitation(id)? else {
                    continue;
                };
                if inv.used_at.is_some()
                    || now >= inv.expires_at
                    || !inv.to_claimed_identity
                    || inv.resets_password
                {
                    continue;
                }
                let (Some(org), Some(m)) =
                    (view.org(inv.org_id)?, view.membership(inv.org_id, user)?)
                else {
                    continue;
                };
                out.push(InvitationView {
                    id: inv.id,
                    org: InvitingOrg {
                        id: org.id,
                        name: org.name,
                        tenant_id: org.tenant_id,
                    },
                    role: m.role,
                    invited_at: inv.created_at,
                    expires_at: inv.expires_at,
                });
            }
            Ok(out)
        })
    }
}

/// A pending invitation as its organization's admins see it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PendingInvitation {
    pub id: InvitationId,
    pub user_id: UserId,
    /// The name the inviter gave.
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub invited_at: Timestamp,
    pub expires_at: Timestamp,
    pub expired: bool,
}

/// The invitation of `org` named by `id`, still waiting (used ones are history), with the
/// membership it waits on.
fn pending_of_org(
    view: &View<'_>,
    org: OrgId,
    id: InvitationId,
) -> Result<(Invitation, Membership)> {
    let invitation = view
        .invitation(id)?
        .filter(|i| i.org_id == org && i.used_at.is_none() && !i.resets_password)
        .ok_or_else(not_found)?;
    let membership: Membership = view
        .membership(org, invitation.user_id)?
        .ok_or_else(not_found)?;
    Ok((invitation, membership))
}

/// A new token and expiry for a waiting membership: the old token stops working.
pub fn renew(tx: &Tx<'_>, org: OrgId, user: &User, now: Timestamp) -> Result<(Invitation, Secret)> {
    let view = tx.view();
    for id in view.invitations_of_org(org)? {
        let invitation = view.invitation(id)?;
        if invitation.is_some_and(|i| i.user_id == user.id && i.used_at.is_none()) {
            tx.delete_invitation(id)?;
        }
    }
    create_invitation(tx, org, user, is_claimed(&view, user)?, now)
}

/// What renewing an invitation gives back: the invitation, and its token (shown once).
#[derive(Debug)]
pub struct Renewed {
    pub invitation: PendingInvitation,
    /// None when the invitation went to the invitee's address (`[smtp]`).
    pub token: Option<Secret>,
}

impl App {
    /// The invitations of `org` not yet accepted, expired ones included (they can be renewed).
    pub fn org_invitations(
        &self,
        actor: Actor,
        org: OrgId,
        page: PageRequest,
    ) -> Result<Page<PendingInvitation>> {
        let now = self.clock.now();
        self.store.read(|view| {
            // A provider (without a grant) sees the one invitation it made: the owner's.
            let access = access::load(view, actor, org, now)?;
            let owner_only = matches!(access.standing(), Some(Standing::Provider(_)));
            let action = if owner_only {
                "org.owner_invitation"
            } else {
                "invitation.list"
            };
            self.access(view, actor, org, action, json!({"list": true}))?;
            let mut items = Vec::new();
            for id in view
                .invitations_of_org(org)?
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| id.key() > a))
            {
                let Some(inv) = view.invitation(id)? else {
                    continue;
                };
                if inv.used_at.is_some() || inv.resets_password {
                    continue;
                }
                let pending = pending_view(view, &inv, now)?;
                if owner_only && pending.role != Role::Owner {
                    continue;
                }
                items.push(pending);
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(
                items,
                page.limit,
                |i: &PendingInvitation| i.id.key(),
            ))
        })
    }

    /// Renews an invitation (expired or not): a new token valid for 30 days, the old one dead.
    /// Who may renew is who may invite that role (`member.invite`); the owner's, the operator
    /// or the provider (`org.owner_invitation`).
    pub async fn resend_invitation(
        &self,
        actor: Actor,
        org: OrgId,
        id: InvitationId,
    ) -> Result<Renewed> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = access::load(&view, actor, org, now)?;
            let (invitation, membership) = pending_of_org(&view, org, id)?;
            // The owner's invitation is renewed by whoever set the owner: the operator or the
            // organization's provider (`org.owner_invitation`); any other, by whoever may
            // invite that role.
            if membership.role == Role::Owner {
                app.authorize(&access, "org.owner_invitation", json!({"resend": true}))?;
            } else {
                app.authorize(
                    &access,
                    "member.invite",
                    json!({"role": membership.role.as_str(), "portal_access": true, "resend": true}),
                )?;
            }
            let user: User = view
                .user(invitation.user_id)?
                .ok_or_else(not_found)?;
            let (renewed, token) = renew(tx, org, &user, now)?;
            let token = app
                .postbox()
                .invitation(tx, &access.org, &user, membership.role, token, now)?;
            audit(tx, &access, "invitation.resend", Some(user.id.to_string()), now)?;
            emit(
                tx,
                org,
                "invitation.created",
                json!({"org_id": org, "user_id": user.id, "role": membership.role, "email": user.email, "renewed": true}),
                now,
            )?;
            Ok(Renewed {
                invitation: pending_view(&tx.view(), &renewed, now)?,
                token,
            })
        })
        .await
    }

    /// Withdraws a waiting invitation: the pending membership goes. An owner's is withdrawn
    /// only by handing ownership elsewhere (the organization would have no owner).
    pub async fn revoke_invitation(
        &self,
        actor: Actor,
        org: OrgId,
        id: InvitationId,
    ) -> Result<()> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = access::load(&view, actor, org, now)?;
            let (invitation, membership) = pending_of_org(&view, org, id)?;
            app.authorize(
                &access,
                "invitation.revoke",
                json!({"invitation_id": id, "role": membership.role.as_str()}),
            )?;
            if membership.role == Role::Owner {
                return Err(Error::Conflict(
                    "an owner's invitation is withdrawn by handing ownership to someone else (managed-by switch)".into(),
                ));
            }
            members::remove_membership(tx, org, invitation.user_id, &membership)?;
            audit(
                tx,
                &access,
                "invitation.revoke",
                Some(invitation.user_id.to_string()),
                now,
            )?;
            emit(
                tx,
                org,
                "invitation.revoked",
                json!({"org_id": org, "user_id": invitation.user_id}),
                now,
            )?;
            Ok(())
        })
        .await
    }
}

fn pending_view(view: &View<'_>, inv: &Invitation, now: Timestamp) -> Result<PendingInvitation> {
    let membership: Option<Membership> = view.membership(inv.org_id, inv.user_id)?;
    let user: Option<User> = view.user(inv.user_id)?;
    let (Some(m), Some(user)) = (membership, user) else {
        return Err(not_found());
    };
    Ok(PendingInvitation {
        id: inv.id,
        user_id: inv.user_id,
        name: m.invited_as.clone().unwrap_or(user.name),
        email: user.email,
        role: m.role,
        invited_at: inv.created_at,
        expires_at: inv.expires_at,
        expired: now >= inv.expires_at,
    })
}
