//! Organizations and their indexes: the tenant id (unique), the searched terms (name,
//! customer reference, external contract; global and per provider), the provider's customers
//! and the organizations on each plan.

use crate::domain::ids::{OrgId, PlanId};
use crate::domain::org::Org;
use crate::domain::plan::{Limits, Plan};
use crate::storage::{StorageError, Tx, View, tables};

/// A field searched by prefix, in the order search streams them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Name,
    Reference,
    Contract,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::Name, Field::Reference, Field::Contract];

    fn tag(self) -> &'static str {
        match self {
            Self::Name => "n",
            Self::Reference => "r",
            Self::Contract => "c",
        }
    }

    fn global(self) -> tables::Terms {
        match self {
            Self::Name => tables::ORG_BY_NAME,
            Self::Reference => tables::ORG_BY_CUSTOMER_REF,
            Self::Contract => tables::ORG_BY_CONTRACT,
        }
    }

    /// The organization's term for this field, as indexed (lowercase).
    pub fn term(self, org: &Org) -> Option<String> {
        match self {
            Self::Name => Some(org.name.to_lowercase()),
            Self::Reference => org.customer_reference.as_deref().map(str::to_lowercase),
            Self::Contract => org.external_contract.as_deref().map(str::to_lowercase),
        }
    }

    /// The key of a provider's customer term: a provider's searches read its own customers.
    fn scoped_key(self, provider: OrgId, term: &str) -> String {
        format!("{provider}\u{1f}{}\u{1f}{term}", self.tag())
    }
}

/// Where a search looks: every organization (the operator), or one provider's customers.
#[derive(Debug, Clone, Copy)]
pub enum Terms {
    Global,
    CustomersOf(OrgId),
}

/// One entry an organization keeps in an index; [`entries`] lists them all, so adding,
/// removing and moving them read one list.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Tenant(String),
    Term(Field, String),
    /// A term in its provider's own index (the scoped key).
    CustomerTerm(String),
    Customer(OrgId),
    OnPlan(PlanId),
}

fn entries(org: &Org) -> Vec<Entry> {
    let mut out = vec![Entry::Tenant(org.tenant_id.clone())];
    for field in Field::ALL {
        if let Some(term) = field.term(org) {
            if let Some(sp) = org.service_provider_id {
                out.push(Entry::CustomerTerm(field.scoped_key(sp, &term)));
            }
            out.push(Entry::Term(field, term));
        }
    }
    out.extend(org.service_provider_id.map(Entry::Customer));
    out.extend(org.plan_id.map(Entry::OnPlan));
    out
}

impl Tx<'_> {
    /// Stores a new organization with its index entries; its tenant id must be free.
    pub fn insert_org(&self, org: &Org) -> Result<(), StorageError> {
        if self.view().org_by_tenant(&org.tenant_id)?.is_some() {
            return Err(StorageError::Duplicate(format!(
                "tenant_id `{}` is already taken",
                org.tenant_id
            )));
        }
        self.reindex_org(org)
    }

    /// Stores a changed organization, moving only the index entries its change touched.
    pub fn update_org(&self, old: &Org, new: &Org) -> Result<(), StorageError> {
        debug_assert_eq!(old.id, new.id);
        if old.tenant_id != new.tenant_id {
            return Err(StorageError::Internal(
                "an organization's tenant_id does not change".into(),
            ));
        }
        let (before, after) = (entries(old), entries(new));
        for gone in before.iter().filter(|e| !after.contains(e)) {
            self.remove_entry(old.id, gone)?;
        }
        for added in after.iter().filter(|e| !before.contains(e)) {
            self.add_entry(new.id, added)?;
        }
        self.put(tables::ORGS, new.id.key(), new)
    }

    /// Removes an organization's record, its index entries and its lists of links and shares
    /// (those records stay, ended, for the other side; ending them is the caller's cascade).
    pub fn delete_org(&self, org: &Org) -> Result<(), StorageError> {
        for entry in entries(org) {
            self.remove_entry(org.id, &entry)?;
        }
        self.remove_children(tables::ORG_LINKS, org.id.key())?;
        self.remove_children(tables::ORG_SHARES, org.id.key())?;
        self.delete(tables::ORGS, org.id.key())
    }

    /// Writes an organization's record and every index entry: a new one, or again for layout
    /// upgrades that rebuilt the term tables.
    pub fn reindex_org(&self, org: &Org) -> Result<(), StorageError> {
        self.put(tables::ORGS, org.id.key(), org)?;
        for entry in entries(org) {
            self.add_entry(org.id, &entry)?;
        }
        Ok(())
    }

    fn add_entry(&self, org: OrgId, entry: &Entry) -> Result<(), StorageError> {
        let id = org.key();
        match entry {
            Entry::Tenant(tenant) => self.set_unique(tables::ORG_BY_TENANT, tenant, id),
            Entry::Term(field, term) => self.add_term(field.global(), term, id),
            Entry::CustomerTerm(key) => self.add_term(tables::PROVIDER_ORG_TERMS, key, id),
            Entry::Customer(sp) => self.add_child(tables::PROVIDER_CUSTOMERS, sp.key(), id),
            Entry::OnPlan(plan) => self.add_child(tables::PLAN_ORGS, plan.key(), id),
        }
    }

    fn remove_entry(&self, org: OrgId, entry: &Entry) -> Result<(), StorageError> {
        let id = org.key();
        match entry {
            Entry::Tenant(tenant) => self.remove_unique(tables::ORG_BY_TENANT, tenant),
            Entry::Term(field, term) => self.remove_term(field.global(), term, id),
            Entry::CustomerTerm(key) => self.remove_term(tables::PROVIDER_ORG_TERMS, key, id),
            Entry::Customer(sp) => self.remove_child(tables::PROVIDER_CUSTOMERS, sp.key(), id),
            Entry::OnPlan(plan) => self.remove_child(tables::PLAN_ORGS, plan.key(), id),
        }
    }
}

impl View<'_> {
    pub fn org(&self, id: OrgId) -> Result<Option<Org>, StorageError> {
        self.record(tables::ORGS, id.key())
    }

    /// [`View::org`] for the organization a request acts on (`app::access::load`), decoded
    /// once per thread while its bytes stay the same ([`View::recurring_record`]); loops over
    /// many organizations use [`View::org`], so they neither pay for the table nor push out
    /// what requests reuse.
    pub fn recurring_org(&self, id: OrgId) -> Result<Option<Org>, StorageError> {
        self.recurring_record(tables::ORGS, id.key())
    }

    pub fn org_by_tenant(&self, tenant_id: &str) -> Result<Option<OrgId>, StorageError> {
        Ok(self
            .unique(tables::ORG_BY_TENANT, tenant_id)?
            .map(OrgId::from_key))
    }

    /// The organizations whose service provider is `provider`.
    pub fn customers_of(&self, provider: OrgId) -> Result<Vec<OrgId>, StorageError> {
        super::ids(
            self,
            tables::PROVIDER_CUSTOMERS,
            provider.key(),
            OrgId::from_key,
        )
    }

    /// The organizations on `plan`.
    pub fn orgs_on_plan(&self, plan: PlanId) -> Result<Vec<OrgId>, StorageError> {
        super::ids(self, tables::PLAN_ORGS, plan.key(), OrgId::from_key)
    }

    /// The limits an organization runs under: its plan's, or the defaults.
    pub fn limits_of(&self, org: &Org) -> Result<Limits, StorageError> {
        let Some(plan) = org.plan_id else {
            return Ok(Limits::default());
        };
        let plan: Option<Plan> = self.record(tables::PLANS, plan.key())?;
        Ok(plan.map(|p| p.limits).unwrap_or_default())
    }

    /// Up to `limit` (term, organization) pairs of `field` in `scope` whose term starts with
    /// `prefix`, in (term, id) order after `after`.
    pub fn org_terms_after(
        &self,
        scope: Terms,
        field: Field,
        prefix: &str,
        after: Option<(&str, u128)>,
        limit: usize,
    ) -> Result<Vec<(String, u128)>, StorageError> {
        match scope {
            Terms::Global => self.terms_after(field.global(), prefix, after, limit),
            Terms::CustomersOf(provider) => {
                let start = field.scoped_key(provider, "");
                let scoped_after = after.map(|(t, id)| (field.scoped_key(provider, t), id));
                let rows = self.terms_after(
                    tables::PROVIDER_ORG_TERMS,
                    &field.scoped_key(provider, prefix),
                    scoped_after.as_ref().map(|(k, id)| (k.as_str(), *id)),
                    limit,
                )?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(k, id)| Some((k.strip_prefix(&start)?.to_owned(), id)))
                    .collect())
            }
        }
    }

    /// Up to `limit` organizations after `after`, in id (creation) order.
    pub fn all_orgs(&self, after: Option<OrgId>, limit: usize) -> Result<Vec<Org>, StorageError> {
        super::all(self, tables::ORGS, after.map(OrgId::key), limit)
    }
}
