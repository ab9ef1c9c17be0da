//! The record work of the upgrade to layout 3, which needs the records' own rules (search
//! terms, plan features, where a PIN belongs) and so runs once at start, after the table
//! steps of [`crate::storage::migrate`], in one durable transaction.

use crate::domain::member::User;
use crate::domain::org::Org;
use crate::storage::{StorageError, Tx, tables};

/// Records read per page while upgrading.
const PAGE: usize = 1_000;

impl Tx<'_> {
    /// Every organization indexed again (lowercase reference and contract terms, terms by
    /// provider, organizations by plan) with its plan's features; PINs moved from accounts to
    /// their memberships. Returns how many organizations it indexed.
    pub fn reindex_layout_v3(&self) -> Result<usize, StorageError> {
        let view = self.view();
        let mut after = None;
        let mut orgs = 0;
        loop {
            let page: Vec<(u128, Org)> = view.scan(tables::ORGS, after, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (id, mut org) in page {
                // Layout 2 kept these terms as written; layout 3 keeps them lowercase.
                if let Some(r) = &org.customer_reference {
                    self.remove_term(tables::ORG_BY_CUSTOMER_REF, r, id)?;
                }
                if let Some(c) = &org.external_contract {
                    self.remove_term(tables::ORG_BY_CONTRACT, c, id)?;
                }
                if let Some(plan) = org.plan_id
                    && let Some(plan) = view.plan(plan)?
                {
                    org.plan_features = plan.features;
                }
                self.reindex_org(&org)?;
                orgs += 1;
            }
        }
        let mut after = None;
        loop {
            let page: Vec<(u128, User)> = view.scan(tables::USERS, after, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (id, mut user) in page {
                let Some(pin) = user.pin_hash.take() else {
                    continue;
                };
                for org in view.orgs_of(user.id)? {
                    if let Some(mut m) = view.membership(org, user.id)?
                        && m.pin_hash.is_none()
                    {
                        m.pin_hash = Some(pin.clone());
                        self.put_membership(&m)?;
                    }
                }
                self.put(tables::USERS, id, &user)?;
            }
        }
        Ok(orgs)
    }
}
