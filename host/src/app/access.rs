//! Tenant isolation and authorization.
//!
//! Isolation is decided here, in Rust, before any policy runs: a caller with no relation to an
//! organization (not a member, not a member of its provider, not the operator) gets 404, the
//! same answer as for an organization that does not exist. Everything else (which role may do
//! what, suspended organizations, remote-support scopes) is the `authorize` policy's decision.

use serde_json::Value;

use super::App;
use super::actor::Actor;
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, UserId};
use crate::domain::member::{Membership, MembershipStatus, Role};
use crate::domain::org::{Org, OrgStatus};
use crate::domain::privilege::Standing;
use crate::domain::remote_support::{RemoteSupport, SupportStatus};
use crate::error::{Error, Result};
use crate::policy::decision_input::DecisionInput;
use crate::policy::input::{
    ActorInput, AuthorizeInput, GrantInput, OrgInput, PolicyInput, Relation,
};
use crate::policy::{Decision, Subject};
use crate::storage::View;

/// Something the console may offer: `action` on an example `resource` (what the policies
/// read, such as the role an invitation gives), under a `name` of its own.
#[derive(Debug, Clone)]
pub struct Offer {
    pub name: &'static str,
    pub action: &'static str,
    pub resource: Value,
}

impl Offer {
    /// `action` on no resource in particular, offered under its own name.
    pub fn plain(action: &'static str) -> Self {
        Self {
            name: action,
            action,
            resource: Value::Object(serde_json::Map::new()),
        }
    }
}

/// The caller's standing in one organization.
#[derive(Debug, Clone)]
pub struct Access {
    pub actor: Actor,
    pub org: Org,
    /// Active membership role in the organization.
    pub role: Option<Role>,
    /// Active membership role in the organization's service provider.
    pub provider_role: Option<Role>,
    /// An active remote-support grant of the caller on this organization.
    pub grant: Option<RemoteSupport>,
    /// The organization's service provider is suspended: its people may read, nothing more,
    /// and their grants are void.
    pub provider_suspended: bool,
}

pub fn active_role(view: &View<'_>, org: OrgId, user: UserId) -> Result<Option<Role>> {
    Ok(role_if_active(view.membership(org, user)?))
}

fn role_if_active(membership: Option<Membership>) -> Option<Role> {
    membership
        .filter(|m| m.status == MembershipStatus::Active)
        .map(|m| m.role)
}

fn active_grant(
    view: &View<'_>,
    org: OrgId,
    user: UserId,
    now: Timestamp,
) -> Result<Option<RemoteSupport>> {
    for id in view.remote_support_on(org)?.into_iter().rev() {
        let request = view.remote_support(id)?;
        if let Some(r) =
            request.filter(|r| r.requester_id == user && r.status_at(now) == SupportStatus::Granted)
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

pub fn load_org(view: &View<'_>, id: OrgId) -> Result<Org> {
    view.org(id)?.ok_or(Error::NotFound("organization"))
}

/// What [`load`] reads for the request it decides (the organization, its provider, the
/// caller's memberships in both) goes through the per-thread table of decoded records
/// (`storage/recurring.rs`): the next request reads the same. Loops over many organizations
/// use [`load_org`] and [`active_role`], which decode as before.
fn requests_org(view: &View<'_>, id: OrgId) -> Result<Org> {
    view.recurring_org(id)?
        .ok_or(Error::NotFound("organization"))
}

fn callers_role(view: &View<'_>, org: OrgId, user: UserId) -> Result<Option<Role>> {
    Ok(role_if_active(view.recurring_membership(org, user)?))
}

/// The caller's access to `org_id`, or 404 when the caller may not know it exists.
pub fn load(view: &View<'_>, actor: Actor, org_id: OrgId, now: Timestamp) -> Result<Access> {
    let org = requests_org(view, org_id)?;
    let Some(user) = actor.user_id else {
        return Ok(Access {
            actor,
            org,
            role: None,
            provider_role: None,
            grant: None,
            provider_suspended: false,
        });
    };
    let role = callers_role(view, org.id, user)?;
    let provider_role = match org.service_provider_id {
        Some(sp) => callers_role(view, sp, user)?,
        None => None,
    };
    let provider_suspended = match (provider_role, org.service_provider_id) {
        (Some(_), Some(sp)) => requests_org(view, sp)?.status == OrgStatus::Suspended,
        _ => false,
    };
    // A grant is only good while its holder still belongs to an active provider.
    let grant = match provider_role {
        Some(_) if !provider_suspended => active_grant(view, org.id, user, now)?,
        _ => None,
    };
    if role.is_none() && provider_role.is_none() && grant.is_none() {
        return Err(Error::NotFound("organization"));
    }
    Ok(Access {
        actor,
        org,
        role,
        provider_role,
        grant,
        provider_suspended,
    })
}

fn actor_input(
    actor: Actor,
    role: Option<Role>,
    provider_role: Option<Role>,
    grant: Option<&RemoteSupport>,
) -> ActorInput {
    let relation = match (actor.is_operator(), role, grant, provider_role) {
        (true, ..) => Relation::Operator,
        (_, Some(_), ..) => Relation::Member,
        (_, _, Some(_), _) => Relation::Grantee,
        (_, _, _, Some(_)) => Relation::Provider,
        _ => Relation::None,
    };
    ActorInput {
        id: actor.user_id.map(|id| id.to_string()),
        operator: actor.is_operator(),
        relation,
        role,
        provider_role,
        grant: grant.map(|g| GrantInput {
            id: g.id.to_string(),
            scope: g.scope,
        }),
    }
}

impl Access {
    /// True when the caller acts only through a remote-support grant; such actions are
    /// audited with the grant.
    pub fn via_grant(&self) -> Option<&RemoteSupport> {
        if self.role.is_none() {
            self.grant.as_ref()
        } else {
            None
        }
    }

    /// Whether `action` is judged on the caller's provider standing although it also holds a
    /// grant: a grant adds to what a provider's owners and admins may do, it never takes away
    /// what they do for a customer in their own right ([`PROVIDER_OWN`]).
    fn acts_as_provider(&self, action: &str) -> bool {
        self.via_grant().is_some()
            && matches!(self.provider_role, Some(Role::Owner | Role::Admin))
            && PROVIDER_OWN.contains(&action)
    }

    fn without_grant(self) -> Access {
        Access {
            grant: None,
            ..self
        }
    }

    /// How the caller stands to the organization, for the rules Rust keeps whatever the
    /// policies say ([`crate::domain::privilege`]).
    pub fn standing(&self) -> Option<Standing> {
        if self.actor.is_operator() {
            return Some(Standing::Operator);
        }
        if let Some(role) = self.role {
            return Some(Standing::Member(role));
        }
        if self.via_grant().is_some() {
            return Some(Standing::Grantee);
        }
        self.provider_role.map(Standing::Provider)
    }

    /// Whether the organization has an active owner or admin who could consent to a change.
    pub fn consent_possible(&self, view: &View<'_>, roles: &[Role]) -> Result<bool> {
        for m in view.all_members_of(self.org.id)? {
            if m.status == MembershipStatus::Active && roles.contains(&m.role) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn subject(&self) -> Subject {
        Subject {
            provider: self.org.service_provider_id,
            org: Some(self.org.id),
        }
    }

    /// Who the caller is, as every hook's input says.
    pub fn actor_input(&self) -> ActorInput {
        actor_input(
            self.actor,
            self.role,
            self.provider_role,
            self.grant.as_ref(),
        )
    }

    pub fn policy_input(&self, action: &str, resource: Value, now: Timestamp) -> AuthorizeInput {
        AuthorizeInput {
            action: action.to_owned(),
            actor: self.actor_input(),
            org: Some(OrgInput::of(&self.org)),
            resource,
            now,
        }
    }
}

impl App {
    /// Asks the `authorize` hook whether `access` may do `action`; 403 with the deciding
    /// layer's reason when not.
    ///
    /// Managing policies is not subject to the organization's own `authorize` layer: a broken
    /// or hostile organization policy could otherwise deny its own repair. The platform and
    /// provider layers still decide.
    pub fn authorize(&self, access: &Access, action: &str, resource: Value) -> Result<Decision> {
        let (subject, input) = self.authorize_question(access, action, resource)?;
        forbid_unless_allowed(self.ask(subject, input))
    }

    /// Whom the `authorize` hook is asked about `action` and with what input, once the rules
    /// Rust keeps have let it through (the same for a decision and for an offer).
    fn authorize_question(
        &self,
        access: &Access,
        action: &str,
        resource: Value,
    ) -> Result<(Subject, AuthorizeInput)> {
        let lens;
        let access = if access.acts_as_provider(action) {
            lens = access.clone().without_grant();
            &lens
        } else {
            access
        };
        guard(access, action)?;
        let input = access.policy_input(action, resource, self.clock.now());
        let mut subject = access.subject();
        if is_policy_management(action) {
            subject.org = None;
        }
        Ok((subject, input))
    }

    /// The offers among `offers` that `actor` may take up on `org` as the policies stand now:
    /// what the console shows them. Judged as [`App::authorize`] judges, with the offer's
    /// example resource (a policy's rule on the real resource still refuses with its reason
    /// when the action is taken), and not written to the decision log: an offer decides
    /// nothing, and the action, when taken, is decided and recorded.
    pub fn offered(&self, actor: Actor, org: OrgId, offers: &[Offer]) -> Result<Vec<&'static str>> {
        let now = self.clock.now();
        self.store.read(|view| {
            let access = load(view, actor, org, now)?;
            Ok(offers
                .iter()
                .filter(|offer| {
                    self.authorize_question(&access, offer.action, offer.resource.clone())
                        .is_ok_and(|(subject, input)| {
                            let input = DecisionInput::built(PolicyInput::from(input));
                            self.policies.decide_input(subject, &input).allowed()
                        })
                })
                .map(|offer| offer.name)
                .collect())
        })
    }

    /// Authorization for actions on no organization (own tokens, listing plans).
    pub fn authorize_global(
        &self,
        actor: Actor,
        action: &str,
        resource: Value,
    ) -> Result<Decision> {
        let input = AuthorizeInput {
            action: action.to_owned(),
            actor: actor_input(actor, None, None, None),
            org: None,
            resource,
            now: self.clock.now(),
        };
        forbid_unless_allowed(self.ask(Subject::default(), input))
    }

    /// Loads access and authorizes in one step: the usual start of a use case.
    pub fn access(
        &self,
        view: &View<'_>,
        actor: Actor,
        org: OrgId,
        action: &str,
        resource: Value,
    ) -> Result<Access> {
        let mut access = load(view, actor, org, self.clock.now())?;
        if access.acts_as_provider(action) {
            access = access.without_grant();
        }
        self.authorize(&access, action, resource)?;
        if view.is_snapshot() {
            self.audit_grant_read(&access, action);
        }
        Ok(access)
    }
}

/// What a provider's owners and admins do for a customer without a grant (the platform
/// policy's `is_provider_admin_action`): reading it, its audit and events, assigning its plan,
/// taking over its management, suspending it, editing it as its provider. A grant they also
/// hold changes neither how these are judged nor how they are audited.
const PROVIDER_OWN: &[&str] = &[
    "org.read",
    "org.update",
    "org.suspend",
    "org.reactivate",
    "org.delete",
    "org.managed_by",
    "org.plan",
    "org.owner_invitation",
    "remote_support.list",
    "audit.read",
    "events.read",
    "policy.read",
    "decision.read",
    "change_request.list",
];

/// What no grant may do: each would leave a credential, an identity, an ownership, an approval
/// change or another organization's access behind after the grant ends (DESIGN §2).
const NEVER_UNDER_A_GRANT: &[&str] = &[
    // Links and shares give another organization lasting access to this one.
    "link.create",
    "link.accept",
    "link.resend",
    "share.create",
    "member.invite",
    "member.update_role",
    "member.update",
    "member.pin",
    // A reset hands whoever holds it the member's account.
    "member.password_reset",
    // Removing a person erases them when it was their last organization: not undone when
    // the grant ends.
    "member.remove",
    "invitation.revoke",
    "pin.verify",
    "org.transfer_ownership",
    "org.managed_by",
    "org.plan",
    "remote_support.approve",
    "remote_support.deny",
    "remote_support.revoke",
    "change_request.accept",
    "change_request.decline",
    "plugin.upload",
    "plugin.delete",
    // An endpoint would keep receiving the organization's events after the grant ended.
    "webhook.manage",
    // An endpoint's URL may carry the receiving system's own credential (`?token=`): a grant
    // is for helping the organization's people, not for reading its integrations' secrets.
    "webhook.read",
    // A provider's e-mail templates write its customers' mail: not a support task.
    "mail_template.manage",
];

/// The rules Rust keeps before any policy is asked (policies can only tighten them).
fn guard(access: &Access, action: &str) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::Forbidden {
            reason,
            layer: "platform".into(),
        })
    };
    if access.via_grant().is_some() && NEVER_UNDER_A_GRANT.contains(&action) {
        return refuse(format!(
            "`{action}` is not done under a remote support grant: it would outlast the grant"
        ));
    }
    let as_provider = access.role.is_none() && access.provider_role.is_some();
    if as_provider && access.provider_suspended && !is_read(action) {
        return refuse(
            "the organization's service provider is suspended: its members may only read".into(),
        );
    }
    Ok(())
}

/// Reads: what a suspended provider's people may still do.
fn is_read(action: &str) -> bool {
    action.ends_with(".read") || action.ends_with(".list")
}

/// Actions that change or inspect policies (see [`App::authorize`]).
fn is_policy_management(action: &str) -> bool {
    action.starts_with("policy.") || action.starts_with("customer_policy.")
}

pub fn forbid_unless_allowed(decision: Decision) -> Result<Decision> {
    if decision.allowed() {
        return Ok(decision);
    }
    let layer = decision
        .deciding_layer
        .map_or("none", |l| l.name())
        .to_owned();
    Err(Error::Forbidden {
        reason: decision.reason().to_owned(),
        layer,
    })
}

/// Status check used by writes that need the organization active regardless of policy.
pub fn require_active(org: &Org) -> Result<()> {
    match org.status {
        OrgStatus::Active => Ok(()),
        OrgStatus::Suspended => Err(Error::Conflict(format!(
            "organization `{}` is suspended",
            org.tenant_id
        ))),
    }
}
