//! Plans (subscription templates) and what an organization uses of them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::actor::Actor;
use super::journal::{audit, emit};
use super::orgs::entitlement_of;
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{LinkId, OrgId, PlanId};
use crate::domain::link::LinkStatus;
use crate::domain::org::{Org, OrgStatus};
use crate::domain::plan::{Limits, Plan};
use crate::domain::resource::ResourceKind;
use crate::error::{Error, FieldError, Result};
use crate::storage::View;

const INVALID_PLAN: &str = "plan is invalid";

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Business", "features": ["remote_support"], "limits": {"max_members": 250, "max_teams": 25, "max_active_links": 10, "max_remote_support_minutes": 120}}))]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    pub limits: Limits,
    #[serde(default)]
    pub features: Vec<String>,
    /// The provider making the plan for its customers; none for a platform plan (operator).
    pub owner_org_id: Option<OrgId>,
}

/// What an organization currently uses of its limits.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub members: usize,
    pub teams: usize,
    pub active_links: usize,
}

impl Usage {
    pub fn exceeding(&self, limits: &Limits) -> Vec<FieldError> {
        let mut over = Vec::new();
        let mut check = |field: &str, used: usize, max: u32| {
            if used > max as usize {
                over.push(FieldError::new(
                    format!("limits.{field}"),
                    format!("the organization uses {used}, the plan allows {max}"),
                ));
            }
        };
        check("max_members", self.members, limits.max_members);
        check("max_teams", self.teams, limits.max_teams);
        check(
            "max_active_links",
            self.active_links,
            limits.max_active_links,
        );
        over
    }
}

pub fn active_link_count(view: &View<'_>, org: OrgId, now: Timestamp) -> Result<usize> {
    let mut n = 0;
    for id in view.links_of(org)? {
        let link = view.link(LinkId::from_key(id))?;
        if link.is_some_and(|l| l.status_at(now) == LinkStatus::Active) {
            n += 1;
        }
    }
    Ok(n)
}

pub fn usage(view: &View<'_>, org: &Org, now: Timestamp) -> Result<Usage> {
    Ok(Usage {
        members: view.member_count(org.id)?,
        teams: view.count_resources(org.id, ResourceKind::Team)?,
        active_links: active_link_count(view, org.id, now)?,
    })
}

/// An organization's plan as it stands: its name (none: the default limits), its limits, and
/// how much of them is in use.
#[derive(Debug)]
pub struct PlanInUse {
    pub plan_name: Option<String>,
    pub limits: Limits,
    pub usage: Usage,
}

impl App {
    /// [`PlanInUse`] of `org`, for a caller who may read the organization.
    pub fn plan_in_use(&self, actor: Actor, org: OrgId) -> Result<PlanInUse> {
        let now = self.clock.now();
        self.store.read(|view| {
            let access = self.access(view, actor, org, "org.read", Value::Null)?;
            let plan_name = match access.org.plan_id {
                Some(id) => view.plan(id)?.map(|p| p.name),
                None => None,
            };
            Ok(PlanInUse {
                plan_name,
                limits: view.limits_of(&access.org)?,
                usage: usage(view, &access.org, now)?,
            })
        })
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::field(
            INVALID_PLAN,
            "name",
            "must be 1 to 100 characters",
        ));
    }
    if let Some(problem) = crate::domain::text::control_problem(&name) {
        return Err(Error::field(INVALID_PLAN, "name", problem));
    }
    Ok(name)
}

fn check_features(features: &[String]) -> Result<()> {
    if features.len() > 64 || features.iter().any(|f| f.is_empty() || f.len() > 64) {
        return Err(Error::field(
            INVALID_PLAN,
            "features",
            "at most 64 flags of 1 to 64 characters",
        ));
    }
    Ok(())
}

/// An edit of a plan: any of its name, limits and features.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"limits": {"max_members": 500, "max_teams": 50, "max_active_links": 10, "max_remote_support_minutes": 240}}))]
#[serde(deny_unknown_fields)]
pub struct PlanEdit {
    pub name: Option<String>,
    pub limits: Option<Limits>,
    pub features: Option<Vec<String>>,
}

/// An organization on a plan, as the plan's owner sees it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OrgOnPlan {
    pub id: OrgId,
    pub tenant_id: String,
    pub name: String,
    pub status: OrgStatus,
}

fn load_plan(view: &View<'_>, id: PlanId) -> Result<Plan> {
    view.plan(id)?.ok_or(Error::NotFound("plan"))
}

/// The organizations on `plan`.
fn orgs_on(view: &View<'_>, plan: PlanId) -> Result<Vec<Org>> {
    let mut orgs = Vec::new();
    for id in view.orgs_on_plan(plan)? {
        if let Some(org) = view.org(id)? {
            orgs.push(org);
        }
    }
    Ok(orgs)
}

/// Refuses a provider's plan that gives more than the provider may sell.
fn refuse_excess(
    view: &View<'_>,
    provider: &Org,
    limits: &Limits,
    features: &[String],
) -> Result<()> {
    match entitlement_of(view, provider)?.excess(limits, features) {
        None => Ok(()),
        Some(why) => Err(Error::Forbidden {
            reason: format!(
                "a plan may not give more than `{}`'s own plan: {why}",
                provider.tenant_id
            ),
            layer: "platform".into(),
        }),
    }
}

impl App {
    /// Who may `action` (`update`, `retire`, `read`) `plan`: the operator for a platform plan;
    /// the provider's people the `authorize` policy allows for the provider's own. Returns the
    /// provider's access for the latter.
    fn plan_access(
        &self,
        view: &View<'_>,
        actor: Actor,
        plan: &Plan,
        action: &str,
    ) -> Result<Option<super::access::Access>> {
        let resource = json!({"plan_id": plan.id, "owner_org_id": plan.owner_org_id});
        match plan.owner_org_id {
            None => {
                self.authorize_global(actor, action, resource)?;
                Ok(None)
            }
            Some(provider) => Ok(Some(self.access(view, actor, provider, action, resource)?)),
        }
    }

    /// Edits a plan. Its limits may not drop below what an organization on it uses, and a
    /// provider's plan stays within the provider's own; new features reach every organization
    /// on it (and so every policy input) at once.
    pub async fn edit_plan(&self, actor: Actor, id: PlanId, edit: PlanEdit) -> Result<Plan> {
        let name = edit.name.as_deref().map(check_name).transpose()?;
        if let Some(features) = &edit.features {
            check_features(features)?;
        }
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let mut plan = load_plan(&view, id)?;
            let before = plan.clone();
            let access = app.plan_access(&view, actor, &plan, "plan.update")?;
            let limits_after = edit.limits.unwrap_or(plan.limits);
            let features_after = edit.features.as_ref().unwrap_or(&plan.features);
            if let Some(access) = &access
                && !actor.is_operator()
            {
                refuse_excess(&view, &access.org, &limits_after, features_after)?;
            }
            if let Some(limits) = edit.limits {
                let mut over = Vec::new();
                for org in orgs_on(&view, id)? {
                    for f in usage(&view, &org, now)?.exceeding(&limits) {
                        over.push(FieldError::new(
                            f.field,
                            format!("organization `{}`: {}", org.tenant_id, f.reason),
                        ));
                    }
                }
                if !over.is_empty() {
                    return Err(Error::Exceeded {
                        title: "plan is too small for the organizations on it".into(),
                        fields: over,
                    });
                }
                plan.limits = limits;
            }
            if let Some(name) = name {
                plan.name = name;
            }
            if let Some(features) = edit.features {
                plan.features = features;
            }
            tx.update_plan(&before, &plan)?;
            for old in orgs_on(&view, id)? {
                let mut org = old.clone();
                org.plan_features = plan.features.clone();
                tx.update_org(&old, &org)?;
                emit(
                    tx,
                    org.id,
                    "plan.changed",
                    json!({"org_id": org.id, "plan_id": plan.id, "limits": plan.limits, "features": plan.features}),
                    now,
                )?;
            }
            if let Some(access) = &access {
                audit(tx, access, "plan.update", Some(plan.id.to_string()), now)?;
            }
            Ok(plan)
        })
        .await
    }

    /// Retires a plan: it stays on the organizations that have it, and is assigned no more.
    pub async fn retire_plan(&self, actor: Actor, id: PlanId) -> Result<Plan> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let mut plan = load_plan(&view, id)?;
            let before = plan.clone();
            let access = app.plan_access(&view, actor, &plan, "plan.retire")?;
            if plan.retired_at.is_some() {
                return Err(Error::Conflict(format!(
                    "plan `{}` is already retired",
                    plan.name
                )));
            }
            plan.retired_at = Some(now);
            tx.update_plan(&before, &plan)?;
            if let Some(access) = &access {
                audit(tx, access, "plan.retire", Some(plan.id.to_string()), now)?;
            }
            Ok(plan)
        })
        .await
    }

    /// The organizations on a plan, for the plan's owner (the operator, or the provider).
    pub fn plan_orgs(
        &self,
        actor: Actor,
        id: PlanId,
        page: PageRequest,
    ) -> Result<Page<OrgOnPlan>> {
        self.store.read(|view| {
            let plan = load_plan(view, id)?;
            self.plan_access(view, actor, &plan, "plan.read")?;
            let items: Vec<OrgOnPlan> = view
                .orgs_on_plan(id)?
                .into_iter()
                .filter(|o| page.after.is_none_or(|a| o.key() > a))
                .take(page.limit + 1)
                .filter_map(|o| view.org(o).ok().flatten())
                .map(|o| OrgOnPlan {
                    id: o.id,
                    tenant_id: o.tenant_id,
                    name: o.name,
                    status: o.status,
                })
                .collect();
            Ok(Page::from_sorted(items, page.limit, |o: &OrgOnPlan| {
                o.id.key()
            }))
        })
    }

    pub async fn create_plan(&self, actor: Actor, new: NewPlan) -> Result<Plan> {
        let name = check_name(&new.name)?;
        check_features(&new.features)?;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let resource = json!({"limits": new.limits, "owner_org_id": new.owner_org_id});
            match new.owner_org_id {
                None => {
                    app.authorize_global(actor, "plan.create", resource)?;
                }
                Some(provider) => {
                    let access = app.access(&view, actor, provider, "plan.create", resource)?;
                    Quotas::check(
                        "plans_per_provider",
                        view.plans_of(provider)?.len(),
                        1,
                        app.settings.quotas.plans_per_provider,
                        "reuse or retire a plan",
                    )?;
                    if !actor.is_operator() {
                        refuse_excess(&view, &access.org, &new.limits, &new.features)?;
                    }
                    audit(tx, &access, "plan.create", Some(name.clone()), now)?;
                }
            }
            let plan = Plan {
                id: PlanId::new(),
                name,
                owner_org_id: new.owner_org_id,
                limits: new.limits,
                features: new.features,
                created_at: now,
                retired_at: None,
            };
            tx.insert_plan(&plan)?;
            Ok(plan)
        })
        .await
    }

    /// Platform plans, plus the plans of providers the caller belongs to (or all, operator).
    /// With `assignable_by`, only the plans that provider may put its customers on: not
    /// retired, platform or its own, within its own limits and features.
    pub fn list_plans(
        &self,
        actor: Actor,
        assignable_by: Option<OrgId>,
        page: PageRequest,
    ) -> Result<Page<Plan>> {
        self.authorize_global(actor, "plan.list", Value::Null)?;
        self.store.read(|view| {
            let mut providers = Vec::new();
            if let Some(user) = actor.user_id {
                providers = view.orgs_of(user)?;
            }
            let assignable = match assignable_by {
                Some(sp) => {
                    let access = self.access(view, actor, sp, "plan.read", Value::Null)?;
                    Some((sp, entitlement_of(view, &access.org)?))
                }
                None => None,
            };
            let mut items = Vec::new();
            let mut after = page.after.map(PlanId::from_key);
            loop {
                let batch = view.all_plans(after, 256)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.id);
                items.extend(
                    batch
                        .into_iter()
                        .filter(|p| match p.owner_org_id {
                            None => true,
                            Some(o) => actor.is_operator() || providers.contains(&o),
                        })
                        .filter(|p| match &assignable {
                            None => true,
                            Some((sp, own)) => {
                                p.retired_at.is_none()
                                    && p.owner_org_id.is_none_or(|o| o == *sp)
                                    && own.excess(&p.limits, &p.features).is_none()
                            }
                        }),
                );
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |p: &Plan| p.id.key()))
        })
    }
}
