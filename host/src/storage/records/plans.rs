//! Plans (subscription templates) and their indexes: a name is unique, without case, among one
//! owner's plans (a provider's, or the platform's); a provider lists its own plans.

use crate::domain::ids::{OrgId, PlanId};
use crate::domain::plan::Plan;
use crate::storage::{StorageError, Tx, View, tables};

fn name_key(owner: Option<OrgId>, name: &str) -> String {
    match owner {
        Some(o) => format!("{o}:{}", name.to_lowercase()),
        None => format!("platform:{}", name.to_lowercase()),
    }
}

fn taken(name: &str) -> StorageError {
    StorageError::Duplicate(format!("a plan named `{name}` already exists"))
}

impl Tx<'_> {
    /// Stores a new plan; its name must be free among its owner's plans.
    pub fn insert_plan(&self, plan: &Plan) -> Result<(), StorageError> {
        let key = name_key(plan.owner_org_id, &plan.name);
        if self.view().unique(tables::PLAN_BY_NAME, &key)?.is_some() {
            return Err(taken(&plan.name));
        }
        self.put(tables::PLANS, plan.id.key(), plan)?;
        self.set_unique(tables::PLAN_BY_NAME, &key, plan.id.key())?;
        if let Some(owner) = plan.owner_org_id {
            self.add_child(tables::ORG_PLANS, owner.key(), plan.id.key())?;
        }
        Ok(())
    }

    /// Stores a changed plan; a new name must be free among its owner's plans.
    pub fn update_plan(&self, old: &Plan, new: &Plan) -> Result<(), StorageError> {
        debug_assert_eq!((old.id, old.owner_org_id), (new.id, new.owner_org_id));
        let (before, after) = (
            name_key(old.owner_org_id, &old.name),
            name_key(new.owner_org_id, &new.name),
        );
        if before != after {
            if self.view().unique(tables::PLAN_BY_NAME, &after)?.is_some() {
                return Err(taken(&new.name));
            }
            self.remove_unique(tables::PLAN_BY_NAME, &before)?;
            self.set_unique(tables::PLAN_BY_NAME, &after, new.id.key())?;
        }
        self.put(tables::PLANS, new.id.key(), new)
    }

    /// Removes a plan with its index entries (the organizations on it are the caller's).
    pub fn delete_plan(&self, id: PlanId) -> Result<(), StorageError> {
        let Some(plan) = self.view().plan(id)? else {
            return Ok(());
        };
        self.remove_unique(
            tables::PLAN_BY_NAME,
            &name_key(plan.owner_org_id, &plan.name),
        )?;
        if let Some(owner) = plan.owner_org_id {
            self.remove_child(tables::ORG_PLANS, owner.key(), id.key())?;
        }
        self.delete(tables::PLANS, id.key())
    }
}

impl View<'_> {
    pub fn plan(&self, id: PlanId) -> Result<Option<Plan>, StorageError> {
        self.record(tables::PLANS, id.key())
    }

    /// The plans a provider made.
    pub fn plans_of(&self, provider: OrgId) -> Result<Vec<PlanId>, StorageError> {
        super::ids(self, tables::ORG_PLANS, provider.key(), PlanId::from_key)
    }

    /// Up to `limit` plans after `after`, in id (creation) order.
    pub fn all_plans(
        &self,
        after: Option<PlanId>,
        limit: usize,
    ) -> Result<Vec<Plan>, StorageError> {
        super::all(self, tables::PLANS, after.map(PlanId::key), limit)
    }
}
