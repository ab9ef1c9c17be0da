//! The bulk path: many organizations, their members and active links between them in one
//! call, for a migration from another system (and the scale benchmark).
//!
//! A batch is one write transaction, so it lands whole or not at all. It is validated by the
//! same rules as the API (every organization by `NewOrg::validate`, members by the caller
//! through `validate_member`) and checks the same invariants inside the transaction: unique
//! tenant ids, one owner, the member cap, one live link per pair, the active-link cap. It asks
//! the platform `authorize` policy once, for `org.bulk_load` (the shipped policy allows only
//! the operator), not once per record: the migration is the one decision. Each organization
//! gets an audit entry saying it arrived by bulk load; no events are emitted, because a
//! migration replayed to every webhook subscriber as a million "created" events would be a
//! flood, not news. Members arrive active (they were members in the system migrated from) and
//! hold no credential until one is issued to them.

use serde_json::json;

use super::actor::Actor;
use super::journal::audit_as;
use super::links::check_cap;
use super::members::{NewMember, check_member_cap, insert_membership};
use super::orgs::insert_org;
use super::{App, access};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{LinkId, OrgId};
use crate::domain::link::{Link, LinkStatus};
use crate::domain::member::{MembershipStatus, Role};
use crate::domain::org::{Hierarchy, NewOrg, Org};
use crate::error::{Error, FieldError, Result};
use crate::storage::Tx;

/// The most records (organizations + members + links) one batch may hold, so one transaction
/// stays a bounded amount of memory and time.
pub const MAX_BATCH_RECORDS: usize = 100_000;

const INVALID_BATCH: &str = "bulk batch is invalid";

/// One organization to load, with its members (its owner comes from `org.owner`).
#[derive(Debug)]
pub struct BulkOrg {
    pub org: NewOrg,
    pub members: Vec<NewMember>,
}

/// An active link between two organizations that exist (loaded earlier or in the same batch).
#[derive(Debug, Clone, Copy)]
pub struct BulkLink {
    pub from: OrgId,
    pub to: OrgId,
}

#[derive(Debug, Default)]
pub struct Batch {
    pub orgs: Vec<BulkOrg>,
    pub links: Vec<BulkLink>,
}

/// What one batch wrote.
#[derive(Debug)]
pub struct Loaded {
    /// The new organizations' ids, in the batch's order.
    pub orgs: Vec<OrgId>,
    pub members: usize,
    pub links: usize,
}

impl Batch {
    fn records(&self) -> usize {
        self.orgs.len()
            + self.orgs.iter().map(|o| o.members.len()).sum::<usize>()
            + self.links.len()
    }
}

/// An organization that passed validation, with its owner and members.
struct ValidBulk {
    org: Org,
    owner: Option<NewMember>,
    members: Vec<NewMember>,
}

/// Validates every organization, naming a bad field by its place in the batch
/// (`orgs[3].country`); members may not be owners (the one owner is `org.owner`).
fn validate(app: &App, orgs: Vec<BulkOrg>) -> Result<Vec<ValidBulk>> {
    let now = app.clock.now();
    let mut errors = Vec::new();
    let mut valid = Vec::with_capacity(orgs.len());
    for (i, BulkOrg { org, members }) in orgs.into_iter().enumerate() {
        for (m, member) in members.iter().enumerate() {
            if member.role == Role::Owner {
                errors.push(FieldError::new(
                    format!("orgs[{i}].members[{m}].role"),
                    "an organization's one owner is given as `org.owner`",
                ));
            }
        }
        match org.validate(&app.settings.regions, now) {
            Ok(v) => valid.push(ValidBulk {
                org: v.org,
                owner: v
                    .owner
                    .map(|o| NewMember::portal(o.name, o.email, Role::Owner)),
                members,
            }),
            Err(Error::Invalid { fields, .. }) => {
                errors.extend(
                    fields
                        .into_iter()
                        .map(|f| FieldError::new(format!("orgs[{i}].{}", f.field), f.reason)),
                );
            }
            Err(other) => return Err(other),
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(Error::invalid(INVALID_BATCH, errors))
    }
}

impl App {
    /// Loads `batch` in one transaction; nothing of it lands if any part is refused.
    pub async fn bulk_load(&self, actor: Actor, batch: Batch) -> Result<Loaded> {
        let records = batch.records();
        if records > MAX_BATCH_RECORDS {
            return Err(Error::field(
                INVALID_BATCH,
                "records",
                format!("{records} records; at most {MAX_BATCH_RECORDS} per batch"),
            ));
        }
        self.authorize_global(actor, "org.bulk_load", json!({"records": records}))?;
        let orgs = validate(self, batch.orgs)?;
        let links = batch.links;
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let view = tx.view();
                let mut loaded = Loaded {
                    orgs: Vec::with_capacity(orgs.len()),
                    members: 0,
                    links: 0,
                };
                for ValidBulk {
                    mut org,
                    owner,
                    members,
                } in orgs
                {
                    if let Some(sp) = org.service_provider_id {
                        let provider = access::load_org(&view, sp).ok();
                        if provider.is_none_or(|p| p.hierarchy != Hierarchy::Supernode) {
                            return Err(Error::Conflict(format!(
                                "`{sp}` is not a service provider (organization `{}`)",
                                org.tenant_id
                            )));
                        }
                    }
                    insert_org(tx, &mut org)?;
                    check_member_cap(&view, &org, members.len() + usize::from(owner.is_some()))?;
                    for member in owner.into_iter().chain(members) {
                        insert_membership(tx, &org, member, None, MembershipStatus::Active, now)?;
                        loaded.members += 1;
                    }
                    audit_as(
                        tx,
                        org.id,
                        actor,
                        "org.bulk_load",
                        Some(org.id.to_string()),
                        None,
                        now,
                    )?;
                    loaded.orgs.push(org.id);
                }
                for bulk in links {
                    insert_active_link(tx, bulk, now)?;
                    loaded.links += 1;
                }
                Ok(loaded)
            })
            .await
    }
}

/// One active link, refused if either side is missing, the pair already has a live link, or
/// either side is at its cap of active links.
fn insert_active_link(tx: &Tx<'_>, bulk: BulkLink, now: Timestamp) -> Result<()> {
    let view = tx.view();
    if bulk.from == bulk.to {
        return Err(Error::field(
            INVALID_BATCH,
            "links",
            format!("organization `{}` cannot link to itself", bulk.from),
        ));
    }
    let mut sides = Vec::with_capacity(2);
    for id in [bulk.from, bulk.to] {
        let org = access::load_org(&view, id).map_err(|_| {
            Error::field(
                INVALID_BATCH,
                "links",
                format!("organization `{id}` does not exist"),
            )
        })?;
        check_cap(&view, &org, now)?;
        sides.push(org);
    }
    if view.live_link_between(bulk.from, bulk.to)?.is_some() {
        return Err(Error::Conflict(format!(
            "a live link already exists between `{}` and `{}`",
            sides[0].tenant_id, sides[1].tenant_id
        )));
    }
    let mut link = Link {
        id: LinkId::new(),
        from_org: bulk.from,
        to_org: bulk.to,
        status: LinkStatus::Active,
        created_at: now,
        expires_at: now,
        history: Vec::new(),
    };
    link.change(LinkStatus::Active, now, None);
    Ok(tx.insert_link(&link)?)
}
