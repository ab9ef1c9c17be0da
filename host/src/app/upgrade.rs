//! Record work a layout upgrade asks of the application, done once at start in one durable
//! transaction: what needs the domain's rules (search terms, plan features, where a PIN
//! belongs), which the storage layer's migration steps do not know.

use super::App;
use crate::domain::member::User;
use crate::domain::org::Org;
use crate::error::Result;
use crate::storage::migrate::PENDING_REINDEX;
use crate::storage::{Tx, tables};

/// Records read per page while upgrading.
const PAGE: usize = 1_000;

/// Layout 3: every organization indexed again (lowercase reference and contract terms, terms
/// by provider, organizations by plan) with its plan's features; PINs moved from accounts to
/// their memberships.
fn reindex_v3(tx: &Tx<'_>) -> Result<usize> {
    let view = tx.view();
    let mut after = None;
    let mut orgs = 0;
    loop {
        let page: Vec<(u128, Org)> = view.scan(tables::ORGS, after, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        for (id, mut org) in page {
            // Layout 2 kept these terms as written; layout 3 keeps them lowercase.
            if let Some(r) = &org.customer_reference {
                tx.remove_term(tables::ORG_BY_CUSTOMER_REF, r, id)?;
            }
            if let Some(c) = &org.external_contract {
                tx.remove_term(tables::ORG_BY_CONTRACT, c, id)?;
            }
            if let Some(plan) = org.plan_id
                && let Some(plan) = view.plan(plan)?
            {
                org.plan_features = plan.features;
            }
            tx.reindex_org(&org)?;
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
                    tx.put_membership(&m)?;
                }
            }
            tx.put(tables::USERS, id, &user)?;
        }
    }
    Ok(orgs)
}

impl App {
    /// Does the record work an upgrade of the file's layout left pending, if any.
    pub async fn finish_upgrades(&self) -> Result<()> {
        let pending = self
            .store
            .read(|view| Ok(view.meta(PENDING_REINDEX)?))?
            .is_some_and(|v| v != [0]);
        if !pending {
            return Ok(());
        }
        let orgs = self
            .store
            .write(|tx| {
                let orgs = reindex_v3(tx)?;
                tx.put_meta(PENDING_REINDEX, &[0])?;
                Ok(orgs)
            })
            .await?;
        tracing::info!(orgs, "upgraded the records to layout 3");
        Ok(())
    }
}
