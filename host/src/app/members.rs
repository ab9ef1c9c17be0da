//! Members: invitations, acceptance, roles, removal, PINs for users without portal access.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::actor::Actor;
use super::journal::{audit, emit};
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, ResourceId, UserId};
use crate::domain::member::{
    Membership, MembershipStatus, Role, User, email_problem, extension_problem,
};
use crate::domain::org::Org;
use crate::domain::resource::ResourceKind;
use crate::domain::secret::{self, Secret};
use crate::error::{Error, FieldError, Result};
use crate::storage::{Tx, View};

const INVALID_MEMBER: &str = "member is invalid";

/// How a PIN is asked for: `"auto"` or 4-8 explicit digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinRequest {
    None,
    Auto,
    Given(String),
}

/// A member to add, validated.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub portal_access: bool,
    pub team_ids: Vec<ResourceId>,
    pub pin: PinRequest,
    pub extension: Option<String>,
}

impl NewMember {
    pub fn portal(name: String, email: String, role: Role) -> Self {
        Self {
            name,
            email: Some(email),
            role,
            portal_access: true,
            team_ids: Vec::new(),
            pin: PinRequest::None,
            extension: None,
        }
    }
}

/// The invite request body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Mia Jones", "email": "mia@acme.example", "role": "member", "portal_access": true, "extension": "204"}))]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub portal_access: Option<bool>,
    pub team_ids: Option<Vec<ResourceId>>,
    pub pin: Option<String>,
    /// A phone extension in this organization (1 to 15 digits).
    pub extension: Option<String>,
}

/// Validates one member's fields; `field` prefixes names (for CSV rows it is the column).
pub fn validate_member(
    name: Option<&str>,
    email: Option<&str>,
    role: Option<&str>,
    portal_access: bool,
    pin: Option<&str>,
) -> std::result::Result<NewMember, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    match (portal_access, email) {
        (true, None) => errors.push(FieldError::new(
            "email",
            "is required for users with portal access",
        )),
        (_, Some(e)) => {
            if let Some(p) = email_problem(e) {
                errors.push(FieldError::new("email", p));
            }
        }
        (false, None) => {}
    }
    let role = match role.map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new("role", "is required: `admin` or `member`"));
            None
        }
        Some("owner") => {
            errors.push(FieldError::new("role", "`owner` cannot be invited; an organization gets its one owner at creation or by a managed-by switch"));
            None
        }
        Some(text) => {
            let parsed = Role::parse(text);
            if parsed.is_none() {
                errors.push(FieldError::new(
                    "role",
                    format!("`{text}` is not one of: admin, member"),
                ));
            }
            parsed
        }
    };
    let pin = match pin.map(str::trim).filter(|p| !p.is_empty()) {
        None => PinRequest::None,
        Some("auto") => PinRequest::Auto,
        Some(p) => {
            if let Some(problem) = secret::pin_problem(p) {
                errors.push(FieldError::new("pin", format!("{problem}, or `auto`")));
            }
            PinRequest::Given(p.to_owned())
        }
    };
    match role {
        Some(role) if errors.is_empty() => Ok(NewMember {
            name: name.to_owned(),
            email: email.map(str::to_owned),
            role,
            portal_access,
            team_ids: Vec::new(),
            pin,
            extension: None,
        }),
        _ => Err(errors),
    }
}

/// What adding a member produced; the secrets are shown once.
#[derive(Debug)]
pub struct Added {
    pub user: User,
    pub membership: Membership,
    pub invitation_token: Option<Secret>,
    /// The invitation went to the member's address (`[smtp]`): the token is not answered.
    pub invitation_mailed: bool,
    pub pin: Option<Secret>,
}

impl Added {
    /// Mails the invitation when e-mail is on: the token then leaves what is answered.
    pub fn mail_invitation(
        &mut self,
        tx: &Tx<'_>,
        postbox: &super::mail::Postbox<'_>,
        org: &Org,
        now: Timestamp,
    ) -> Result<()> {
        if let Some(token) = self.invitation_token.take() {
            self.invitation_token =
                postbox.invitation(tx, org, &self.user, self.membership.role, token, now)?;
            self.invitation_mailed = self.invitation_token.is_none();
        }
        Ok(())
    }
}

/// Hashes the PIN a new member asked for, if any (outside the write transaction: slow on
/// purpose). Returns the generated PIN to show once, and the hash to store.
pub fn prepare_pin(pin: &PinRequest) -> Result<(Option<Secret>, Option<String>)> {
    match pin {
        PinRequest::None => Ok((None, None)),
        PinRequest::Auto => {
            let pin = secret::new_pin()?;
            let hash = secret::hash_pin(pin.expose())?;
            Ok((Some(pin), Some(hash)))
        }
        PinRequest::Given(p) => Ok((None, Some(secret::hash_pin(p)?))),
    }
}

/// Adds a member; portal users get an invitation, others are active at once.
pub fn add_member(tx: &Tx<'_>, org: &Org, new: NewMember, now: Timestamp) -> Result<Added> {
    let (pin, pin_hash) = prepare_pin(&new.pin)?;
    add_member_hashed(tx, org, new, pin, pin_hash, now)
}

pub fn add_member_hashed(
    tx: &Tx<'_>,
    org: &Org,
    new: NewMember,
    pin: Option<Secret>,
    pin_hash: Option<String>,
    now: Timestamp,
) -> Result<Added> {
    if new.portal_access
        && let Some(renewed) = renew_waiting(tx, org, &new, &pin, &pin_hash, now)?
    {
        return Ok(renewed);
    }
    let status = if new.portal_access {
        MembershipStatus::Invited
    } else {
        MembershipStatus::Active
    };
    let Joined {
        user,
        membership,
        created,
    } = insert_membership(tx, org, new, pin_hash, status, now)?;
    let invitation_token = if status == MembershipStatus::Invited {
        // A user created just now has no credential yet.
        let claimed = !created && super::invitations::is_claimed(&tx.view(), &user)?;
        Some(super::invitations::create_invitation(tx, org.id, &user, claimed, now)?.1)
    } else {
        None
    };
    emit(
        tx,
        org.id,
        "invitation.created",
        json!({"org_id": org.id, "user_id": user.id, "role": membership.role, "email": user.email}),
        now,
    )?;
    Ok(Added {
        user,
        membership,
        invitation_token,
        invitation_mailed: false,
        pin,
    })
}

/// The membership of `email` in `org` that still waits for its invitation to be accepted.
pub fn waiting_membership(
    view: &View<'_>,
    org: OrgId,
    email: Option<&str>,
) -> Result<Option<Membership>> {
    let Some(email) = email.map(str::to_lowercase) else {
        return Ok(None);
    };
    let Some(user) = view.user_by_email(&email)? else {
        return Ok(None);
    };
    let waiting = view.membership(org, user)?;
    Ok(waiting.filter(|m| m.status == MembershipStatus::Invited))
}

/// Inviting someone whose invitation is still waiting renews it (a new token and 30 days, as
/// the role and name now asked, with the teams, extension and PIN given), instead of answering
/// that they are already a member.
fn renew_waiting(
    tx: &Tx<'_>,
    org: &Org,
    new: &NewMember,
    pin: &Option<Secret>,
    pin_hash: &Option<String>,
    now: Timestamp,
) -> Result<Option<Added>> {
    let view = tx.view();
    let Some(mut membership) = waiting_membership(&view, org.id, new.email.as_deref())? else {
        return Ok(None);
    };
    let email = new.email.as_deref().unwrap_or_default();
    if membership.role == Role::Owner && new.role != Role::Owner {
        return Err(Error::Conflict(format!(
            "`{email}` is invited as this organization's owner; ownership changes by a managed-by switch"
        )));
    }
    let user = view
        .user(membership.user_id)?
        .ok_or(Error::NotFound("user"))?;
    membership.role = new.role;
    membership.invited_as = Some(new.name.clone());
    join_teams(tx, org.id, user.id, &new.team_ids)?;
    for team in &new.team_ids {
        if !membership.team_ids.contains(team) {
            membership.team_ids.push(*team);
        }
    }
    if let Some(extension) = &new.extension {
        membership.extension = Some(extension.clone());
    }
    if pin_hash.is_some() {
        membership.pin_hash = pin_hash.clone();
        membership.pin_failures = 0;
        membership.pin_locked_until = None;
    }
    tx.put_membership(&membership)?;
    let (_, token) = super::invitations::renew(tx, org.id, &user, now)?;
    emit(
        tx,
        org.id,
        "invitation.created",
        json!({"org_id": org.id, "user_id": user.id, "role": membership.role, "email": user.email, "renewed": true}),
        now,
    )?;
    Ok(Some(Added {
        user,
        membership,
        invitation_token: Some(token),
        invitation_mailed: false,
        pin: pin.clone(),
    }))
}

/// Adds `user` to each of `teams` of `org` it is not in yet.
fn join_teams(tx: &Tx<'_>, org: OrgId, user: UserId, teams: &[ResourceId]) -> Result<()> {
    let view = tx.view();
    for team in teams {
        let resource = view.resource(ResourceKind::Team, *team)?;
        let Some(mut resource) = resource.filter(|r| r.org_id == org) else {
            return Err(Error::field(
                INVALID_MEMBER,
                "team_ids",
                format!("team `{team}` does not exist in this organization"),
            ));
        };
        if !resource.member_ids.contains(&user) {
            resource.member_ids.push(user);
            tx.put_resource(&resource)?;
        }
    }
    Ok(())
}

/// Finds the user by email or creates it, and makes it a member of `org` with `status`:
/// the records and indexes only, with no invitation and no event.
/// A membership [`insert_membership`] stored, with its user.
pub struct Joined {
    pub user: User,
    pub membership: Membership,
    /// The user was created for this membership (nobody had its address).
    pub created: bool,
}

pub fn insert_membership(
    tx: &Tx<'_>,
    org: &Org,
    new: NewMember,
    pin_hash: Option<String>,
    status: MembershipStatus,
    now: Timestamp,
) -> Result<Joined> {
    let view = tx.view();
    let existing = match &new.email {
        Some(e) => view.user_by_email(e)?,
        None => None,
    };
    let created = existing.is_none();
    let user = match existing {
        Some(id) => {
            if view.membership(org.id, id)?.is_some() {
                return Err(Error::Conflict(format!(
                    "`{}` is already a member of this organization",
                    new.email.unwrap_or_default()
                )));
            }
            // An existing user may belong to other tenants: nothing here changes the user;
            // the PIN and extension belong to this membership.
            view.user(id)?.ok_or(Error::NotFound("user"))?
        }
        None => {
            let user = User {
                id: UserId::new(),
                name: new.name.clone(),
                email: new.email.clone(),
                portal_access: new.portal_access,
                pin_hash: None,
                created_at: now,
                claimed_at: None,
                password_hash: None,
            };
            tx.insert_user(&user)?;
            user
        }
    };
    join_teams(tx, org.id, user.id, &new.team_ids)?;
    let membership = Membership {
        org_id: org.id,
        user_id: user.id,
        role: new.role,
        status,
        team_ids: new.team_ids,
        created_at: now,
        invited_as: Some(new.name),
        pin_hash,
        extension: new.extension,
        pin_failures: 0,
        pin_locked_until: None,
    };
    if created {
        tx.insert_new_users_membership(&membership)?;
    } else {
        tx.put_membership(&membership)?;
    }
    Ok(Joined {
        user,
        membership,
        created,
    })
}

/// Refuses to go over the plan's member limit with `adding` more.
pub fn check_member_cap(view: &View<'_>, org: &Org, adding: usize) -> Result<()> {
    let max = view.limits_of(org)?.max_members as usize;
    let count = view.member_count(org.id)?;
    if count + adding > max {
        return Err(Error::Conflict(format!(
            "organization `{}` has {count} of {max} members allowed by its plan; {adding} more do not fit",
            org.tenant_id
        )));
    }
    Ok(())
}

/// How many memberships one page of a filtered member list looks at.
pub const LIST_SCAN: usize = 50_000;

/// Filters of `GET /v1/orgs/{org}/members`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFilter {
    pub role: Option<Role>,
    pub portal_access: Option<bool>,
    pub status: Option<MembershipStatus>,
    /// Members of this team.
    pub team: Option<ResourceId>,
    /// A case-insensitive prefix of the name or the e-mail address.
    pub q: Option<String>,
}

impl MemberFilter {
    fn keeps(&self, m: &MemberView) -> bool {
        let q = self.q.as_deref().map(str::to_lowercase);
        self.role.is_none_or(|r| r == m.role)
            && self.portal_access.is_none_or(|p| p == m.portal_access)
            && self.status.is_none_or(|s| s == m.status)
            && self.team.is_none_or(|t| m.team_ids.contains(&t))
            && q.is_none_or(|q| {
                m.name.to_lowercase().starts_with(&q)
                    || m.email
                        .as_deref()
                        .is_some_and(|e| e.to_lowercase().starts_with(&q))
            })
    }
}

/// A member as the API shows it.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct MemberView {
    pub user_id: UserId,
    pub name: String,
    pub email: Option<String>,
    pub portal_access: bool,
    pub has_pin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    pub role: Role,
    pub status: MembershipStatus,
    pub team_ids: Vec<ResourceId>,
    pub created_at: Timestamp,
}

impl MemberView {
    /// A pending member shows only what the inviter gave: the person behind an existing
    /// account is shown once they have joined.
    pub fn new(user: &User, m: &Membership) -> Self {
        let joined = m.status == MembershipStatus::Active;
        Self {
            user_id: user.id,
            name: match (&m.invited_as, joined) {
                (Some(name), false) => name.clone(),
                _ => user.name.clone(),
            },
            email: user.email.clone(),
            portal_access: user.portal_access,
            has_pin: joined && m.pin_hash.is_some(),
            extension: m.extension.clone(),
            role: m.role,
            status: m.status,
            team_ids: m.team_ids.clone(),
            created_at: m.created_at,
        }
    }
}

impl App {
    pub async fn invite_member(&self, actor: Actor, org: OrgId, body: InviteBody) -> Result<Added> {
        let portal = body.portal_access.unwrap_or(true);
        let mut new = validate_member(
            body.name.as_deref(),
            body.email.as_deref(),
            body.role.as_deref(),
            portal,
            body.pin.as_deref(),
        )
        .map_err(|fields| Error::invalid(INVALID_MEMBER, fields))?;
        new.team_ids = body.team_ids.unwrap_or_default();
        if let Some(extension) = body.extension.as_deref().map(str::trim) {
            if let Some(problem) = extension_problem(extension) {
                return Err(Error::field(INVALID_MEMBER, "extension", problem));
            }
            new.extension = Some(extension.to_owned());
        }
        let resource = json!({"role": new.role.as_str(), "portal_access": new.portal_access});
        // Hashing a PIN is slow on purpose: only for a caller who may invite.
        if new.pin != PinRequest::None {
            self.store
                .read(|view| self.access(view, actor, org, "member.invite", resource.clone()))?;
        }
        let (pin, pin_hash) = prepare_pin(&new.pin)?;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(&view, actor, org, "member.invite", resource)?;
            // A renewal adds nobody: an organization at its cap still renews.
            if !new.portal_access || waiting_membership(&view, org, new.email.as_deref())?.is_none()
            {
                check_member_cap(&view, &access.org, 1)?;
            }
            let mut added = add_member_hashed(tx, &access.org, new, pin, pin_hash, now)?;
            added.mail_invitation(tx, &app.postbox(), &access.org, now)?;
            audit(
                tx,
                &access,
                "member.invite",
                Some(added.user.id.to_string()),
                now,
            )?;
            Ok(added)
        })
        .await
    }

    /// The members of `org` matching `filter`, in user-id order. A page looks at no more than
    /// [`LIST_SCAN`] memberships; when it stops there it says where to continue.
    pub fn list_members(
        &self,
        actor: Actor,
        org: OrgId,
        filter: &MemberFilter,
        page: PageRequest,
    ) -> Result<Page<MemberView>> {
        self.store.read(|view| {
            self.access(view, actor, org, "member.list", Value::Null)?;
            let mut items = Vec::new();
            let mut after = page.after.map(UserId::from_key);
            let mut scanned = 0;
            loop {
                let rows = view.members_of(org, after, 1_000)?;
                let Some(last) = rows.last() else {
                    return Ok(Page::from_sorted(items, page.limit, |m: &MemberView| {
                        m.user_id.key()
                    }));
                };
                after = Some(last.user_id);
                scanned += rows.len();
                for m in rows {
                    let user: User = view.user(m.user_id)?.ok_or(Error::NotFound("user"))?;
                    let shown = MemberView::new(&user, &m);
                    if filter.keeps(&shown) {
                        items.push(shown);
                        if items.len() > page.limit {
                            return Ok(Page::from_sorted(items, page.limit, |m: &MemberView| {
                                m.user_id.key()
                            }));
                        }
                    }
                }
                if scanned >= LIST_SCAN {
                    let next = after.map(|a| a.to_string());
                    return Ok(Page {
                        items,
                        next_cursor: next,
                    });
                }
            }
        })
    }

    pub async fn remove_member(&self, actor: Actor, org: OrgId, user: UserId) -> Result<()> {
        let app = self.clone();
        self.write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let (access, m) = member_access(&app, &view, actor, org, user, "member.remove", |m| {
                    json!({"user_id": user, "role": m.role.as_str(), "is_self": actor.user_id == Some(user)})
                })?;
                if m.role == Role::Owner {
                    return Err(Error::Conflict("the owner cannot be removed; switch ownership first".into()));
                }
                remove_membership(tx, org, user, &m)?;
                audit(tx, &access, "member.remove", Some(user.to_string()), now)?;
                emit(tx, org, "member.removed", json!({"org_id": org, "user_id": user}), now)?;
                Ok(())
            })
            .await
    }
}

/// Removes `user`'s membership of `org`, from its teams, and its pending invitations there.
pub fn remove_membership(tx: &Tx<'_>, org: OrgId, user: UserId, m: &Membership) -> Result<()> {
    let view = tx.view();
    tx.delete_membership(org, user)?;
    for team in &m.team_ids {
        if let Some(mut r) = view.resource(ResourceKind::Team, *team)? {
            r.member_ids.retain(|u| *u != user);
            tx.put_resource(&r)?;
        }
    }
    for id in view.invitations_of_org(org)? {
        if view.invitation(id)?.is_some_and(|i| i.user_id == user) {
            tx.delete_invitation(id)?;
        }
    }
    erase_if_orphaned(tx, user)
}

/// What an erased person is called where their id still appears (audit entries name users by
/// id, which stays as a pseudonym).
pub const ERASED_NAME: &str = "(erased)";

/// Erases the personal data of a user who belongs to no organization any more: name, e-mail
/// address and PIN go, the e-mail address is free again, and every API token is revoked. The
/// id stays, so the audit log still tells one actor from another.
pub fn erase_if_orphaned(tx: &Tx<'_>, user: UserId) -> Result<()> {
    let view = tx.view();
    if !view.orgs_of(user)?.is_empty() {
        return Ok(());
    }
    let Some(old) = view.user(user)? else {
        return Ok(());
    };
    let erased = User {
        name: ERASED_NAME.to_owned(),
        email: None,
        pin_hash: None,
        portal_access: false,
        ..old.clone()
    };
    tx.update_user(&old, &erased)?;
    tx.delete_tokens_of(user)?;
    for id in view.invitations_to(user)? {
        tx.delete_invitation(id)?;
    }
    Ok(())
}

/// Access to `org` plus the target membership (404 when the user is not a member).
fn member_access(
    app: &App,
    view: &View<'_>,
    actor: Actor,
    org: OrgId,
    user: UserId,
    action: &str,
    resource: impl FnOnce(&Membership) -> Value,
) -> Result<(Access, Membership)> {
    let access = super::access::load(view, actor, org, app.clock.now())?;
    let m: Membership = view
        .membership(org, user)?
        .ok_or(Error::NotFound("member"))?;
    app.authorize(&access, action, resource(&m))?;
    Ok((access, m))
}
