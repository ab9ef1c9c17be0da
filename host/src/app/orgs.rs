//! Organization use cases: create, read, search, edit, status, delete with cascade, managed-by
//! switch, plan change.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{self, Access};
use super::actor::Actor;
use super::journal::{audit, emit};
use super::members::{NewMember, add_member};
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::change_request::{ChangeKind, ChangeRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PlanId, UserId};
use crate::domain::member::{Membership, MembershipStatus, Role};
use crate::domain::org::{Hierarchy, ManagedBy, NewOrg, Org, OrgPatch, OrgStatus, OwnerDetails};
use crate::domain::plan::{Entitlement, Plan};
use crate::domain::privilege;
use crate::domain::resource::ResourceKind;
use crate::domain::secret::Secret;
use crate::error::{Error, FieldError, Result};
use crate::policy::version::BindingKey;
use crate::storage::{Tx, View};

pub struct Created {
    pub org: Org,
    pub owner_invitation_token: Option<Secret>,
    /// The owner's invitation went to the owner's address (`[smtp]`): its token is not
    /// answered, so whoever created the organization does not hold the owner's credential.
    pub owner_invitation_mailed: bool,
    /// A change opened for the customer's consent instead of being applied (answered `202`).
    pub pending: Option<ChangeRequest>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"managed_by": "customer", "owner": {"name": "Alex Kim", "email": "alex@acme.example"}}))]
#[serde(deny_unknown_fields)]
pub struct ManagedBySwitch {
    pub managed_by: ManagedBy,
    pub owner_user_id: Option<UserId>,
    pub owner: Option<OwnerDetails>,
    pub demote_owner_to: Option<Role>,
}

/// Stores a new organization: its tenant id must be free and its plan one it may use.
pub(super) fn insert_org(tx: &Tx<'_>, org: &mut Org) -> Result<()> {
    if let Some(plan) = org.plan_id {
        org.plan_features = assignable_plan(&tx.view(), plan, org.service_provider_id)?.features;
    }
    Ok(tx.insert_org(org)?)
}

/// What `org`, as a provider, may sell: its own plan's limits and features.
pub fn entitlement_of(view: &View<'_>, org: &Org) -> Result<Entitlement> {
    Ok(Entitlement {
        limits: view.limits_of(org)?,
        features: org.plan_features.clone(),
    })
}

/// A plan a provider's person may put a customer on: within the provider's own plan, limits
/// and features, so a provider never sells more than it was sold. The operator assigns any
/// plan.
pub(super) fn plan_within_provider(
    view: &View<'_>,
    plan: &Plan,
    provider: Option<OrgId>,
    by_operator: bool,
) -> Result<()> {
    let Some(provider) = provider.filter(|_| !by_operator) else {
        return Ok(());
    };
    let provider = access::load_org(view, provider)?;
    match entitlement_of(view, &provider)?.excess(&plan.limits, &plan.features) {
        None => Ok(()),
        Some(why) => Err(Error::Forbidden {
            reason: format!(
                "plan `{}` gives more than `{}` may sell: {why}",
                plan.name, provider.tenant_id
            ),
            layer: "platform".into(),
        }),
    }
}

/// A plan `provider` may put its customers on: a platform plan or one of its own.
pub(super) fn assignable_plan(
    view: &View<'_>,
    plan_id: PlanId,
    provider: Option<OrgId>,
) -> Result<Plan> {
    let plan: Plan = view.plan(plan_id)?.ok_or_else(|| {
        Error::field(
            "plan is invalid",
            "plan",
            format!("plan `{plan_id}` does not exist"),
        )
    })?;
    let mine = match plan.owner_org_id {
        None => true,
        Some(owner) => Some(owner) == provider,
    };
    if !mine {
        return Err(Error::field(
            "plan is invalid",
            "plan",
            format!("plan `{plan_id}` does not exist"),
        ));
    }
    if plan.retired_at.is_some() {
        return Err(Error::field(
            "plan is invalid",
            "plan",
            format!(
                "plan `{}` is retired: it stays on the organizations that have it, but is assigned no more",
                plan.name
            ),
        ));
    }
    Ok(plan)
}

/// Which provider a new organization belongs to, and the caller's access to it.
fn resolve_provider(
    app: &App,
    view: &View<'_>,
    actor: Actor,
    asked: Option<OrgId>,
    resource: &Value,
) -> Result<Option<Access>> {
    let provider = match (actor.user_id, asked) {
        (None, None) => {
            app.authorize_global(actor, "org.create", resource.clone())?;
            return Ok(None);
        }
        (_, Some(sp)) => sp,
        (Some(user), None) => {
            let mut admin_of = Vec::new();
            for org in view.orgs_of(user)? {
                let is_admin = matches!(
                    access::active_role(view, org, user)?,
                    Some(Role::Owner | Role::Admin)
                );
                if is_admin && access::load_org(view, org)?.hierarchy == Hierarchy::Supernode {
                    admin_of.push(org);
                }
            }
            match admin_of.as_slice() {
                [only] => *only,
                [] => return Err(Error::Forbidden { reason: "only the operator or a service provider's owner or admin may create organizations".into(), layer: "platform".into() }),
                _ => return Err(Error::field(crate::domain::org::INVALID_ORG, "service_provider_id", "is required: you administer several service providers")),
            }
        }
    };
    let access = app.access(view, actor, provider, "org.create", resource.clone())?;
    if access.org.hierarchy != Hierarchy::Supernode {
        return Err(Error::field(
            crate::domain::org::INVALID_ORG,
            "service_provider_id",
            format!("`{}` is not a service provider", access.org.tenant_id),
        ));
    }
    Ok(Some(access))
}

impl App {
    pub async fn create_org(&self, actor: Actor, body: NewOrg) -> Result<Created> {
        let now = self.clock.now();
        let asked_provider = body.service_provider_id;
        let valid = body.validate(&self.settings.regions, now)?;
        let quotas = self.settings.quotas;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let mut org = valid.org;
            let resource =
                json!({"account_type": org.account_type, "managed_by": org.managed_by});
            let provider = resolve_provider(&app, &view, actor, asked_provider, &resource)?;
            if let Some(p) = &provider {
                if !actor.is_operator() && org.hierarchy == Hierarchy::Supernode {
                    return Err(Error::Forbidden {
                        reason: format!(
                            "`account_type` `{}` makes a service provider, which only the platform operator creates; a provider's customers are business_user, home_user or app_provider",
                            json!(org.account_type).as_str().unwrap_or_default()
                        ),
                        layer: "platform".into(),
                    });
                }
                let customers = view.customers_of(p.org.id)?.len();
                Quotas::check(
                    "customers_per_provider",
                    customers,
                    1,
                    quotas.customers_per_provider,
                    "delete customers that are gone, or ask the operator",
                )?;
            }
            org.service_provider_id = provider.as_ref().map(|p| p.org.id);
            if let Some(plan) = org.plan_id {
                let plan = assignable_plan(&view, plan, org.service_provider_id)?;
                plan_within_provider(&view, &plan, org.service_provider_id, actor.is_operator())?;
            }
            insert_org(tx, &mut org)?;
            let mut owner_added = None;
            if let Some(owner) = valid.owner {
                let new = NewMember::portal(owner.name, owner.email, Role::Owner);
                let mut added = add_member(tx, &org, new, now)?;
                added.mail_invitation(tx, &app.postbox(), &org, now)?;
                owner_added = Some(added);
            }
            match &provider {
                Some(p) => audit(tx, p, "org.create", Some(org.id.to_string()), now)?,
                None => super::journal::audit_as(
                    tx,
                    org.id,
                    actor,
                    "org.create",
                    Some(org.id.to_string()),
                    None,
                    now,
                )?,
            }
            emit(
                tx,
                org.id,
                "org.created",
                json!({"org_id": org.id, "tenant_id": org.tenant_id}),
                now,
            )?;
            Ok(Created {
                org,
                owner_invitation_token: owner_added.as_mut().and_then(|a| a.invitation_token.take()),
                owner_invitation_mailed: owner_added.is_some_and(|a| a.invitation_mailed),
                pending: None,
            })
        })
        .await
    }

    pub fn get_org(&self, actor: Actor, org: OrgId) -> Result<Org> {
        self.read_small(move |app, view| {
            Ok(app.access(view, actor, org, "org.read", Value::Null)?.org)
        })
    }

    /// The organization and the changes its provider asked for that wait for consent.
    pub fn get_org_with_pending(
        &self,
        actor: Actor,
        org: OrgId,
    ) -> Result<(Org, Vec<ChangeRequest>)> {
        self.read_small(move |app, view| {
            let org = app.access(view, actor, org, "org.read", Value::Null)?.org;
            let pending = super::change_requests::pending_of(view, org.id)?;
            Ok((org, pending))
        })
    }

    /// Organizations the caller may see, optionally matching `q` (UUID, tenant_id, name
    /// prefix, customer reference, external contract), in id order.
    /// The organizations the caller may see, in id order (a search, with `q`, is
    /// [`App::search`]).
    pub fn list_orgs(&self, actor: Actor, page: PageRequest) -> Result<Page<Org>> {
        let now = self.clock.now();
        self.store.read(|view| {
            if actor.is_operator() {
                let rows = view.all_orgs(page.after.map(OrgId::from_key), page.limit + 1)?;
                return Ok(Page::from_sorted(rows, page.limit, |o: &Org| o.id.key()));
            }
            let mut ids = visible_orgs(view, actor)?;
            ids.sort_unstable();
            ids.dedup();
            let mut items = Vec::new();
            for id in ids
                .into_iter()
                .filter(|id| page.after.is_none_or(|after| *id > after))
            {
                if let Ok(access) = access::load(view, actor, OrgId::from_key(id), now)
                    && self.authorize(&access, "org.read", Value::Null).is_ok()
                {
                    items.push(access.org);
                }
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |o: &Org| o.id.key()))
        })
    }

    /// Edits an organization within the privilege of each field ([`crate::domain::privilege`]):
    /// a change the caller may not make is refused as a whole; a provider's switching off of
    /// its customer's remote-support approval becomes a change request (`pending`), the rest
    /// of the edit applying at once.
    pub async fn update_org(&self, actor: Actor, org: OrgId, patch: OrgPatch) -> Result<Created> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let mut patch = patch;
            let changes = patch.changes();
            let access = app.access(&view, actor, org, "org.update", json!({"changes": changes}))?;
            let standing = access.standing().ok_or(Error::NotFound("organization"))?;
            let consent_possible = access.consent_possible(&view, &[Role::Owner, Role::Admin])?;
            let mut needs_consent = false;
            for field in changes.keys() {
                if privilege::rule_of(field) == privilege::Rule::Immutable {
                    continue; // named with every other bad field below (422)
                }
                let effect = privilege::check_field(
                    field,
                    standing,
                    &access.org,
                    patch.remote_support_requires_approval,
                    consent_possible,
                )
                .map_err(|reason| Error::Forbidden {
                    reason,
                    layer: "platform".into(),
                })?;
                needs_consent |= effect == privilege::Effect::NeedsConsent;
            }
            if needs_consent {
                patch.remote_support_requires_approval = None;
            }
            let next = patch.apply(&access.org, &app.settings.regions, now)?;
            tx.update_org(&access.org, &next)?;
            audit(tx, &access, "org.update", None, now)?;
            emit(tx, org, "org.updated", json!({"org_id": org}), now)?;
            if next.remote_support_requires_approval != access.org.remote_support_requires_approval {
                super::change_requests::announce(
                    tx,
                    &next,
                    "org.approval_changed",
                    json!({"org_id": org, "remote_support_requires_approval": next.remote_support_requires_approval}),
                    now,
                )?;
            }
            let pending = if needs_consent {
                let access = Access {
                    org: next.clone(),
                    ..access
                };
                Some(super::change_requests::open(tx, &access, ChangeKind::ApprovalOff, now)?)
            } else {
                None
            };
            Ok(Created {
                org: next,
                owner_invitation_token: None,
                owner_invitation_mailed: false,
                pending,
            })
        })
        .await
    }

    pub async fn set_org_status(&self, actor: Actor, org: OrgId, status: OrgStatus) -> Result<Org> {
        let app = self.clone();
        let action = match status {
            OrgStatus::Active => "org.reactivate",
            OrgStatus::Suspended => "org.suspend",
        };
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(&view, actor, org, action, Value::Null)?;
            if access.org.status == status {
                return Err(Error::Conflict(format!(
                    "organization `{}` is already {}",
                    access.org.tenant_id,
                    json!(status).as_str().unwrap_or_default()
                )));
            }
            let mut next = access.org.clone();
            next.status = status;
            next.updated_at = now;
            tx.update_org(&access.org, &next)?;
            audit(tx, &access, action, None, now)?;
            emit(
                tx,
                org,
                "org.status_changed",
                json!({"org_id": org, "status": status}),
                now,
            )?;
            Ok(next)
        })
        .await
    }

    /// Deletes the organization and everything that belongs to it; links are terminated on
    /// both sides and their shares revoked. Audit entries stay.
    pub async fn delete_org(&self, actor: Actor, org: OrgId) -> Result<()> {
        let app = self.clone();
        let unbound = self.write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let access = app.access(&view, actor, org, "org.delete", Value::Null)?;
                let customers = view.customers_of(org)?;
                if !customers.is_empty() {
                    return Err(Error::Conflict(format!(
                        "organization `{}` still serves {} customer organizations; delete or move them first",
                        access.org.tenant_id,
                        customers.len()
                    )));
                }
                let unbound = cascade_delete(tx, &access.org, actor, now)?;
                audit(tx, &access, "org.delete", Some(org.to_string()), now)?;
                Ok(unbound)
            })
            .await?;
        for key in unbound.0 {
            self.policies.apply(key, unbound.1, None);
        }
        Ok(())
    }

    pub async fn switch_managed_by(
        &self,
        actor: Actor,
        org: OrgId,
        switch: ManagedBySwitch,
    ) -> Result<Created> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(
                &view,
                actor,
                org,
                "org.managed_by",
                json!({"managed_by": switch.managed_by}),
            )?;
            let mut next = access.org.clone();
            if next.managed_by == switch.managed_by {
                return Err(Error::Conflict(format!(
                    "organization `{}` is already managed by {}",
                    next.tenant_id,
                    json!(switch.managed_by).as_str().unwrap_or_default()
                )));
            }
            let standing = access.standing().ok_or(Error::NotFound("organization"))?;
            let has_owner = access.consent_possible(&view, &[Role::Owner])?;
            if privilege::managed_by_switch_needs_consent(
                standing,
                &next,
                switch.managed_by,
                has_owner,
            ) {
                let demote_owner_to = demotion(switch.demote_owner_to)?;
                let pending = super::change_requests::open(
                    tx,
                    &access,
                    ChangeKind::ManagedByProvider { demote_owner_to },
                    now,
                )?;
                return Ok(Created {
                    org: next,
                    owner_invitation_token: None,
                    owner_invitation_mailed: false,
                    pending: Some(pending),
                });
            }
            let mut owner_added = None;
            match switch.managed_by {
                ManagedBy::Customer => {
                    owner_added = hand_over_ownership(tx, &next, &switch, now)?;
                    if let Some(added) = &mut owner_added {
                        added.mail_invitation(tx, &app.postbox(), &next, now)?;
                    }
                }
                ManagedBy::ServiceProvider => demote_owner(tx, &next, switch.demote_owner_to)?,
            }
            next.managed_by = switch.managed_by;
            next.updated_at = now;
            tx.update_org(&access.org, &next)?;
            audit(tx, &access, "org.managed_by", None, now)?;
            super::change_requests::announce(
                tx,
                &next,
                "org.managed_by_changed",
                json!({"org_id": org, "managed_by": switch.managed_by}),
                now,
            )?;
            Ok(Created {
                org: next,
                owner_invitation_token: owner_added
                    .as_mut()
                    .and_then(|a| a.invitation_token.take()),
                owner_invitation_mailed: owner_added.is_some_and(|a| a.invitation_mailed),
                pending: None,
            })
        })
        .await
    }

    /// Moves the organization to `plan`; the new limits apply at once, so a plan the
    /// organization already exceeds is refused.
    pub async fn change_plan(&self, actor: Actor, org: OrgId, plan: PlanId) -> Result<Org> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(&view, actor, org, "org.plan", json!({"plan_id": plan}))?;
            let plan = assignable_plan(&view, plan, access.org.service_provider_id)?;
            plan_within_provider(
                &view,
                &plan,
                access.org.service_provider_id,
                actor.is_operator(),
            )?;
            let usage = super::plans::usage(&view, &access.org, now)?;
            let over = usage.exceeding(&plan.limits);
            if !over.is_empty() {
                return Err(Error::Exceeded {
                    title: "plan is too small for the organization".into(),
                    fields: over,
                });
            }
            let mut next = access.org.clone();
            next.plan_id = Some(plan.id);
            next.plan_features = plan.features.clone();
            next.updated_at = now;
            tx.update_org(&access.org, &next)?;
            audit(tx, &access, "org.plan", Some(plan.id.to_string()), now)?;
            emit(
                tx,
                org,
                "plan.changed",
                json!({"org_id": org, "plan_id": plan.id, "limits": plan.limits, "features": plan.features}),
                now,
            )?;
            let old_plan = match access.org.plan_id {
                Some(old) => view.plan(old)?,
                None => None,
            };
            app.postbox()
                .plan_changed(tx, &next, old_plan.as_ref(), &plan, now)?;
            Ok(next)
        })
        .await
    }
}

/// Organizations a user belongs to or serves as a provider member.
fn visible_orgs(view: &View<'_>, actor: Actor) -> Result<Vec<u128>> {
    let Some(user) = actor.user_id else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for org in view.orgs_of(user)? {
        ids.push(org.key());
        ids.extend(view.customers_of(org)?.into_iter().map(OrgId::key));
    }
    Ok(ids)
}

/// Makes the switch's new owner the organization's one owner. An owner it already has (one
/// given at creation of a provider-managed organization) stays owner unless the switch names
/// someone else, who then replaces them; the old owner becomes `demote_owner_to`, which the
/// switch must say, so an organization never has two owners.
fn hand_over_ownership(
    tx: &Tx<'_>,
    org: &Org,
    switch: &ManagedBySwitch,
    now: Timestamp,
) -> Result<Option<super::members::Added>> {
    let view = tx.view();
    let owners: Vec<Membership> = view
        .all_members_of(org.id)?
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .collect();
    let keeps_owner = match (&switch.owner_user_id, &switch.owner) {
        (None, None) => !owners.is_empty(),
        (Some(user), None) => owners.iter().any(|m| m.user_id == *user),
        _ => false,
    };
    if keeps_owner {
        return Ok(None);
    }
    if !owners.is_empty() {
        let to = demotion(switch.demote_owner_to).map_err(|_| {
            Error::field(
                "managed-by switch is invalid",
                "demote_owner_to",
                "the organization already has an owner: say what they become (`admin` or `member`), or leave out the new owner to keep them",
            )
        })?;
        for mut m in owners {
            m.role = to;
            tx.put_membership(&m)?;
        }
    }
    match (&switch.owner_user_id, &switch.owner) {
        (Some(user), None) => {
            let membership: Option<Membership> = view.membership(org.id, *user)?;
            let Some(mut membership) = membership.filter(|m| m.status == MembershipStatus::Active)
            else {
                return Err(Error::field(
                    "managed-by switch is invalid",
                    "owner_user_id",
                    format!("`{user}` is not an active member of this organization"),
                ));
            };
            membership.role = Role::Owner;
            tx.put_membership(&membership)?;
            Ok(None)
        }
        (None, Some(owner)) => {
            let mut check = Vec::new();
            if let Some(p) = crate::domain::member::email_problem(&owner.email) {
                check.push(FieldError::new("owner.email", p));
            }
            if owner.name.trim().is_empty() {
                check.push(FieldError::new("owner.name", "must not be empty"));
            }
            if !check.is_empty() {
                return Err(Error::invalid("managed-by switch is invalid", check));
            }
            super::members::check_member_cap(&view, org, 1)?;
            let added = add_member(
                tx,
                org,
                NewMember::portal(owner.name.clone(), owner.email.clone(), Role::Owner),
                now,
            )?;
            Ok(Some(added))
        }
        _ => Err(Error::field(
            "managed-by switch is invalid",
            "owner",
            "switching to `customer` needs exactly one of `owner_user_id` (an existing member) or `owner` (new owner details)",
        )),
    }
}

/// The role a demoted owner takes: `admin` or `member`, as the request says.
fn demotion(to: Option<Role>) -> Result<Role> {
    match to {
        Some(role @ (Role::Admin | Role::Member)) => Ok(role),
        _ => Err(Error::field(
            "managed-by switch is invalid",
            "demote_owner_to",
            "switching to `service_provider` needs `demote_owner_to`: `admin` or `member`",
        )),
    }
}

pub(super) fn demote_owner(tx: &Tx<'_>, org: &Org, to: Option<Role>) -> Result<()> {
    let to = demotion(to)?;
    let view = tx.view();
    for mut m in view.all_members_of(org.id)? {
        if m.role == Role::Owner {
            m.role = to;
            tx.put_membership(&m)?;
        }
    }
    Ok(())
}

/// Removes everything that belongs to `org` (DESIGN §2 cascade). Links are ended on both
/// sides with their shares; its policies and plugin uploads go; audit entries stay. Returns
/// the policy bindings removed and their generation, for the engine once this is durable.
pub fn cascade_delete(
    tx: &Tx<'_>,
    org: &Org,
    actor: Actor,
    now: Timestamp,
) -> Result<(Vec<BindingKey>, u64)> {
    let view = tx.view();
    for link in view.links_of(org.id)? {
        super::links::terminate_for_deletion(tx, link, org.id, actor, now)?;
    }
    for share in view.shares_of(org.id)? {
        super::shares::revoke_share(tx, share, "organization deleted", now)?;
    }
    for kind in [ResourceKind::Team, ResourceKind::Channel] {
        for resource in view.resources_of(org.id, kind)? {
            if let Some(resource) = view.resource(kind, resource)? {
                tx.delete_resource(&resource)?;
            }
        }
    }
    for m in view.all_members_of(org.id)? {
        tx.delete_membership(org.id, m.user_id)?;
        super::members::erase_if_orphaned(tx, m.user_id)?;
    }
    for invitation in view.invitations_of_org(org.id)? {
        tx.delete_invitation(invitation)?;
    }
    for request in view.remote_support_on(org.id)? {
        tx.delete_remote_support(request)?;
    }
    for plan in view.plans_of(org.id)? {
        tx.delete_plan(plan)?;
    }
    tx.delete_change_requests_of(org.id)?;
    super::plugins::delete_uploads_of(tx, org.id)?;
    tx.delete_mail_records_of(org.id)?;
    let unbound = super::policies::delete_policies_of(tx, org.id)?;
    tx.delete_org(org)?;
    // The outbox keeps the organization's events, ending with this one, for delivery.
    emit(
        tx,
        org.id,
        "org.deleted",
        json!({"org_id": org.id, "tenant_id": org.tenant_id}),
        now,
    )?;
    Ok(unbound)
}
