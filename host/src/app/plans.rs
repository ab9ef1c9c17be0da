//! Plans (subscription templates) and what an organization uses of them.

use serde::Deserialize;
use serde_json::{Value, json};

use super::actor::Actor;
use super::journal::audit;
use super::orgs::limits_of;
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, PlanId};
use crate::domain::link::{Link, LinkStatus};
use crate::domain::org::Org;
use crate::domain::plan::{Limits, Plan};
use crate::error::{Error, FieldError, Result};
use crate::storage::{Tx, View, tables};

const INVALID_PLAN: &str = "plan is invalid";

#[derive(Debug, Deserialize)]
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
    for id in view.children(tables::ORG_LINKS, org.key())? {
        let link: Option<Link> = view.record(tables::LINKS, id)?;
        if link.is_some_and(|l| l.status_at(now) == LinkStatus::Active) {
            n += 1;
        }
    }
    Ok(n)
}

pub fn usage(view: &View<'_>, org: &Org, now: Timestamp) -> Result<Usage> {
    Ok(Usage {
        members: super::members::member_count(view, org.id)?,
        teams: view.children(tables::ORG_TEAMS, org.id.key())?.len(),
        active_links: active_link_count(view, org.id, now)?,
    })
}

pub fn delete_plan(tx: &Tx<'_>, id: u128) -> Result<()> {
    if let Some(plan) = tx.view().record::<Plan>(tables::PLANS, id)? {
        tx.remove_unique(
            tables::PLAN_BY_NAME,
            &plan_name_key(plan.owner_org_id, &plan.name),
        )?;
        tx.delete(tables::PLANS, id)?;
    }
    Ok(())
}

fn plan_name_key(owner: Option<OrgId>, name: &str) -> String {
    match owner {
        Some(o) => format!("{o}:{}", name.to_lowercase()),
        None => format!("platform:{}", name.to_lowercase()),
    }
}

impl App {
    pub async fn create_plan(&self, actor: Actor, new: NewPlan) -> Result<Plan> {
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::field(
                INVALID_PLAN,
                "name",
                "must be 1 to 100 characters",
            ));
        }
        if new.features.len() > 64 || new.features.iter().any(|f| f.is_empty() || f.len() > 64) {
            return Err(Error::field(
                INVALID_PLAN,
                "features",
                "at most 64 flags of 1 to 64 characters",
            ));
        }
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
                        view.children(tables::ORG_PLANS, provider.key())?.len(),
                        1,
                        app.settings.quotas.plans_per_provider,
                        "reuse or retire a plan",
                    )?;
                    let own = limits_of(&view, &access.org)?;
                    if !actor.is_operator() && !new.limits.within(&own) {
                        return Err(Error::Forbidden {
                            reason: format!(
                                "a plan may not give more than `{}`'s own plan allows",
                                access.org.tenant_id
                            ),
                            layer: "platform".into(),
                        });
                    }
                    audit(tx, &access, "plan.create", Some(name.clone()), now)?;
                }
            }
            let key = plan_name_key(new.owner_org_id, &name);
            if view.unique(tables::PLAN_BY_NAME, &key)?.is_some() {
                return Err(Error::Conflict(format!(
                    "a plan named `{name}` already exists"
                )));
            }
            let plan = Plan {
                id: PlanId::new(),
                name,
                owner_org_id: new.owner_org_id,
                limits: new.limits,
                features: new.features,
                created_at: now,
            };
            tx.put(tables::PLANS, plan.id.key(), &plan)?;
            tx.set_unique(tables::PLAN_BY_NAME, &key, plan.id.key())?;
            if let Some(o) = plan.owner_org_id {
                tx.add_child(tables::ORG_PLANS, o.key(), plan.id.key())?;
            }
            Ok(plan)
        })
        .await
    }

    /// Platform plans, plus the plans of providers the caller belongs to (or all, operator).
    pub fn list_plans(&self, actor: Actor, page: PageRequest) -> Result<Page<Plan>> {
        self.authorize_global(actor, "plan.list", Value::Null)?;
        self.store.read(|view| {
            let mut providers = Vec::new();
            if let Some(user) = actor.user_id {
                providers = view.children(tables::USER_ORGS, user.key())?;
            }
            let mut items = Vec::new();
            let mut after = page.after;
            loop {
                let batch: Vec<(u128, Plan)> = view.scan(tables::PLANS, after, 256)?;
                let Some((last, _)) = batch.last() else { break };
                after = Some(*last);
                items.extend(
                    batch
                        .into_iter()
                        .map(|(_, p)| p)
                        .filter(|p| match p.owner_org_id {
                            None => true,
                            Some(o) => actor.is_operator() || providers.contains(&o.key()),
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
