//! The cross-record rules that no sequence of requests may break, checked over a whole state.
//!
//! Every write checks the rules it could break inside its own transaction; this module checks
//! all of them at once over one snapshot, so a backup, a copy after a crash, or a running
//! server's file can be verified from outside (`tenantry check`, the crash harness, the
//! backup route). A violation names the records involved, never a secret.

use std::collections::HashMap;

use serde::Serialize;

use super::plans::active_link_count;
use crate::domain::clock::Timestamp;
use crate::domain::link::{Link, LinkStatus, pair_key};
use crate::domain::member::Role;
use crate::domain::org::{ManagedBy, Org};
use crate::domain::share::ShareStatus;
use crate::error::Result;
use crate::storage::{Store, View};

/// Records are read in pages of this many, so a check of a large file stays in bounded memory
/// per page (the per-pair map of live links is the one structure that grows with the file).
const PAGE: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How many records each table holds.
    pub counts: Vec<(String, u64)>,
    /// One line per broken rule; empty when the state is sound.
    pub violations: Vec<String>,
}

impl Report {
    pub fn is_sound(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks every invariant of DESIGN §2 and §6 over `view` as of `now`.
pub fn check(view: &View<'_>, now: Timestamp) -> Result<Report> {
    let mut violations = Vec::new();
    check_orgs(view, now, &mut violations)?;
    check_links(view, now, &mut violations)?;
    check_shares(view, now, &mut violations)?;
    check_bindings(view, &mut violations)?;
    let counts = view
        .record_counts()?
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect();
    Ok(Report { counts, violations })
}

/// [`check`] over the current state of `store`, its counts taken where each table is kept
/// (the decision log in a file of its own beside an embedded file).
pub fn check_store(store: &Store, now: Timestamp) -> Result<Report> {
    let mut report = store.read(|view| check(view, now))?;
    report.counts = store
        .record_counts()?
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect();
    Ok(report)
}

/// Per organization: the link cap of its plan, and its owner count.
fn check_orgs(view: &View<'_>, now: Timestamp, out: &mut Vec<String>) -> Result<()> {
    let mut after = None;
    loop {
        let page = view.all_orgs(after, PAGE)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.id);
        for org in &page {
            let cap = view.limits_of(org)?.max_active_links;
            let active = active_link_count(view, org.id, now)?;
            if active > cap as usize {
                out.push(format!(
                    "organization {} has {active} active links, over its cap of {cap}",
                    org.id
                ));
            }
            let owners = owner_count(view, org)?;
            match org.managed_by {
                ManagedBy::Customer if owners != 1 => out.push(format!(
                    "customer-managed organization {} has {owners} owners, not exactly one",
                    org.id
                )),
                ManagedBy::ServiceProvider if owners > 1 => out.push(format!(
                    "provider-managed organization {} has {owners} owners, more than one",
                    org.id
                )),
                _ => {}
            }
        }
    }
}

fn owner_count(view: &View<'_>, org: &Org) -> Result<usize> {
    let mut owners = 0;
    let mut after = None;
    loop {
        let page = view.members_of(org.id, after, PAGE)?;
        let Some(last) = page.last() else {
            return Ok(owners);
        };
        after = Some(last.user_id);
        owners += page.iter().filter(|m| m.role == Role::Owner).count();
    }
}

/// At most one live (pending or active) link per pair of organizations, both of which exist.
fn check_links(view: &View<'_>, now: Timestamp, out: &mut Vec<String>) -> Result<()> {
    let mut live_by_pair: HashMap<String, u32> = HashMap::new();
    let mut after = None;
    loop {
        let page = view.all_links(after, PAGE)?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id);
        for link in &page {
            let status = link.status_at(now);
            if !status.is_live() {
                continue;
            }
            *live_by_pair
                .entry(pair_key(link.from_org, link.to_org))
                .or_default() += 1;
            for org in [link.from_org, link.to_org] {
                if view.org(org)?.is_none() {
                    out.push(format!(
                        "{} link {} names organization {org}, which does not exist",
                        status.as_str(),
                        link.id
                    ));
                }
            }
        }
    }
    let mut crowded: Vec<_> = live_by_pair.into_iter().filter(|(_, n)| *n > 1).collect();
    crowded.sort();
    for (pair, n) in crowded {
        out.push(format!(
            "organizations {pair} have {n} live links, not at most one"
        ));
    }
    Ok(())
}

/// An active share rides on an active link.
fn check_shares(view: &View<'_>, now: Timestamp, out: &mut Vec<String>) -> Result<()> {
    let mut after = None;
    loop {
        let page = view.all_shares(after, PAGE)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.id);
        for share in page.iter().filter(|s| s.status == ShareStatus::Active) {
            let link: Option<Link> = view.link(share.link_id)?;
            let link_status = link.map(|l| l.status_at(now));
            if link_status != Some(LinkStatus::Active) {
                out.push(format!(
                    "active share {} rides on link {}, which is {}",
                    share.id,
                    share.link_id,
                    link_status.map_or("missing", LinkStatus::as_str)
                ));
            }
        }
    }
}

/// Every binding names a stored version of its own key.
fn check_bindings(view: &View<'_>, out: &mut Vec<String>) -> Result<()> {
    for (key, binding) in view.bindings_under("")? {
        let version = view.policy_version(binding.version_id)?;
        match version {
            None => out.push(format!(
                "binding {key} points at version {}, which does not exist",
                binding.version_id
            )),
            Some(v) if v.key.text() != key || v.number != binding.number => out.push(format!(
                "binding {key} (number {}) points at version {} of {} (number {})",
                binding.number,
                binding.version_id,
                v.key.text(),
                v.number
            )),
            Some(_) => {}
        }
    }
    Ok(())
}
