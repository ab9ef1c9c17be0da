//! Links between organizations: invite, accept, decline, cancel, resend, unlink, expiry.
//!
//! Two invariants are checked inside the write transaction that could break them:
//! one live (pending or active) link per pair, kept by the store ([`Tx::put_link`]), and the
//! per-organization cap of active links, counted when a link becomes active. The group-commit
//! writer runs transactions one at a time, so no interleaving of accepts can exceed the cap.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::access::{Access, load_org, require_active};
use super::actor::Actor;
use super::journal::{audit, emit};
use super::plans::active_link_count;
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{LinkId, OrgId};
use crate::domain::link::{Link, LinkChange, LinkStatus};
use crate::domain::org::Org;
use crate::error::{Error, Result};
use crate::policy::input::{self, LinkInput, OrgInput};
use crate::storage::{Tx, View};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"target_org_id": "0192f1a4-7c3e-7b1a-9c55-2f0e8d6b4a10", "target_region": "eu-central"}))]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    pub target_org_id: OrgId,
    pub target_region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    Accept,
    Decline,
    Cancel,
    Resend,
}

impl LinkAction {
    pub fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Decline => "decline",
            Self::Cancel => "cancel",
            Self::Resend => "resend",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Peer {
    pub id: OrgId,
    pub name: String,
    pub region: String,
}

/// A link as one side sees it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LinkView {
    pub id: LinkId,
    pub status: LinkStatus,
    pub direction: Direction,
    pub peer: Peer,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub history: Vec<LinkChange>,
}

fn link_view(view: &View<'_>, link: &Link, org: OrgId, now: Timestamp) -> Result<LinkView> {
    let peer_id = link.peer_of(org);
    let peer = match view.org(peer_id)? {
        Some(p) => Peer {
            id: p.id,
            name: p.name,
            region: p.region,
        },
        None => Peer {
            id: peer_id,
            name: "(deleted organization)".into(),
            region: String::new(),
        },
    };
    let status = link.status_at(now);
    Ok(LinkView {
        id: link.id,
        status,
        direction: if link.from_org == org {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        peer,
        created_at: link.created_at,
        expires_at: (status == LinkStatus::Pending).then_some(link.expires_at),
        history: link.history.clone(),
    })
}

fn load_link(view: &View<'_>, org: OrgId, id: LinkId) -> Result<Link> {
    let link: Option<Link> = view.link(id)?;
    link.filter(|l| l.involves(org))
        .ok_or(Error::NotFound("link"))
}

/// Asks the `link` hook; 403 with its reason when it does not allow.
fn ask_link_policy(
    app: &App,
    view: &View<'_>,
    access: &Access,
    action: input::LinkAction,
    from: &Org,
    to: &Org,
) -> Result<()> {
    let now = app.clock.now();
    let count = |org: &Org| -> Result<u32> {
        Ok(u32::try_from(active_link_count(view, org.id, now)?).unwrap_or(u32::MAX))
    };
    let input = LinkInput {
        action,
        actor: access.actor_input(),
        from: OrgInput::of(from),
        to: OrgInput::of(to),
        from_active_links: count(from)?,
        to_active_links: count(to)?,
        from_max_active_links: view.limits_of(from)?.max_active_links,
        to_max_active_links: view.limits_of(to)?.max_active_links,
        now,
    };
    let decision = app.ask(access.subject(), input);
    super::access::forbid_unless_allowed(decision).map(|_| ())
}

/// The cap as an invariant, whatever the policies say.
pub(super) fn check_cap(view: &View<'_>, org: &Org, now: Timestamp) -> Result<()> {
    let max = view.limits_of(org)?.max_active_links as usize;
    let count = active_link_count(view, org.id, now)?;
    if count >= max {
        return Err(Error::Conflict(format!(
            "organization `{}` has reached its cap of {max} active links",
            org.tenant_id
        )));
    }
    Ok(())
}

/// Refuses one more outgoing pending invitation past the `pending_links_per_org` quota.
fn check_pending_quota(view: &View<'_>, org: OrgId, max: usize, now: Timestamp) -> Result<()> {
    let mut pending = 0;
    for id in view.links_of(org)? {
        let link: Option<Link> = view.link(LinkId::from_key(id))?;
        pending += usize::from(
            link.is_some_and(|l| l.from_org == org && l.status_at(now) == LinkStatus::Pending),
        );
    }
    Quotas::check(
        "pending_links_per_org",
        pending,
        1,
        max,
        "cancel an invitation that is not being answered",
    )
}

/// Frees the pair's live slot if the live link there is stale (expired but not yet swept).
fn clear_stale_pair(tx: &Tx<'_>, a: OrgId, b: OrgId, now: Timestamp) -> Result<()> {
    let Some(mut live) = tx.view().live_link_between(a, b)? else {
        return Ok(());
    };
    if live.status_at(now) != LinkStatus::Expired {
        return Err(Error::Conflict(format!(
            "a {} link already exists between these organizations",
            live.status.as_str()
        )));
    }
    live.change(LinkStatus::Expired, now, None);
    Ok(tx.put_link(&live)?)
}

fn announce(tx: &Tx<'_>, link: &Link, now: Timestamp) -> Result<()> {
    for org in [link.from_org, link.to_org] {
        emit(
            tx,
            org,
            "link.status_changed",
            json!({"link_id": link.id, "status": link.status, "from_org": link.from_org, "to_org": link.to_org}),
            now,
        )?;
    }
    Ok(())
}

/// Ends a link because one side is being deleted.
pub fn terminate_for_deletion(
    tx: &Tx<'_>,
    id: u128,
    deleted: OrgId,
    _actor: Actor,
    now: Timestamp,
) -> Result<()> {
    let view = tx.view();
    let Some(mut link) = view.link(LinkId::from_key(id))? else {
        return Ok(());
    };
    if link.status.is_live() {
        let status = if link.status == LinkStatus::Active {
            LinkStatus::Unlinked
        } else {
            LinkStatus::Cancelled
        };
        link.change(status, now, None);
        tx.put_link(&link)?;
        for share in view.shares_over(link.id)? {
            super::shares::revoke_share(tx, share, "link ended", now)?;
        }
        let peer = link.peer_of(deleted);
        emit(
            tx,
            peer,
            "link.status_changed",
            json!({"link_id": link.id, "status": link.status, "reason": "peer organization deleted"}),
            now,
        )?;
    }
    Ok(())
}

/// Writes down the expiry of a pending link past its deadline. Returns whether it did.
pub fn expire_if_due(tx: &Tx<'_>, id: u128, now: Timestamp) -> Result<bool> {
    let Some(mut link) = tx.view().link(LinkId::from_key(id))? else {
        return Ok(false);
    };
    if link.status != LinkStatus::Pending || link.status_at(now) != LinkStatus::Expired {
        return Ok(false);
    }
    link.change(LinkStatus::Expired, now, None);
    tx.put_link(&link)?;
    announce(tx, &link, now)?;
    Ok(true)
}

impl App {
    pub async fn create_link(&self, actor: Actor, org: OrgId, body: NewLink) -> Result<LinkView> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(
                &view,
                actor,
                org,
                "link.create",
                json!({"target_org_id": body.target_org_id}),
            )?;
            if body.target_org_id == org {
                return Err(Error::field(
                    "link is invalid",
                    "target_org_id",
                    "an organization cannot link to itself",
                ));
            }
            let target = load_org(&view, body.target_org_id).map_err(|_| {
                Error::field(
                    "link is invalid",
                    "target_org_id",
                    format!("organization `{}` does not exist", body.target_org_id),
                )
            })?;
            if let Some(region) = &body.target_region
                && *region != target.region
            {
                return Err(Error::field(
                    "link is invalid",
                    "target_region",
                    format!(
                        "organization `{}` is not in region `{region}`",
                        body.target_org_id
                    ),
                ));
            }
            require_active(&access.org)?;
            require_active(&target)?;
            clear_stale_pair(tx, org, target.id, now)?;
            check_pending_quota(&view, org, app.settings.quotas.pending_links_per_org, now)?;
            ask_link_policy(
                &app,
                &view,
                &access,
                input::LinkAction::Invite,
                &access.org,
                &target,
            )?;
            let mut link = Link {
                id: LinkId::new(),
                from_org: org,
                to_org: target.id,
                status: LinkStatus::Pending,
                created_at: now,
                expires_at: now.plus(app.settings.pending_link_ttl()),
                history: Vec::new(),
            };
            link.change(LinkStatus::Pending, now, actor.user_id);
            tx.insert_link(&link)?;
            audit(tx, &access, "link.create", Some(link.id.to_string()), now)?;
            announce(tx, &link, now)?;
            link_view(&view, &link, org, now)
        })
        .await
    }

    pub fn list_links(
        &self,
        actor: Actor,
        org: OrgId,
        direction: Option<Direction>,
        status: Option<LinkStatus>,
        page: PageRequest,
    ) -> Result<Page<LinkView>> {
        let now = self.clock.now();
        self.store.read(|view| {
            self.access(view, actor, org, "link.list", Value::Null)?;
            let mut items = Vec::new();
            for id in view
                .links_of(org)?
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| *id > a))
            {
                let Some(link) = view.link(LinkId::from_key(id))? else {
                    continue;
                };
                let v = link_view(view, &link, org, now)?;
                if direction.is_some_and(|d| d != v.direction)
                    || status.is_some_and(|s| s != v.status)
                {
                    continue;
                }
                items.push(v);
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |l: &LinkView| {
                l.id.0.as_u128()
            }))
        })
    }

    pub async fn act_on_link(
        &self,
        actor: Actor,
        org: OrgId,
        id: LinkId,
        action: LinkAction,
    ) -> Result<LinkView> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let audit_action = format!("link.{}", action.name());
            let access = app.access(&view, actor, org, &audit_action, json!({"link_id": id}))?;
            let mut link = load_link(&view, org, id)?;
            let current = link.status_at(now);
            let invited = link.to_org == org;
            let wrong_state = |wanted: &str| {
                Error::Conflict(format!(
                    "cannot {} a link that is `{}`; it must be {wanted}",
                    action.name(),
                    current.as_str()
                ))
            };
            match action {
                LinkAction::Accept | LinkAction::Decline if !invited => {
                    return Err(Error::Conflict(format!(
                        "only the invited organization can {} this link",
                        action.name()
                    )));
                }
                LinkAction::Cancel | LinkAction::Resend if invited => {
                    return Err(Error::Conflict(format!(
                        "only the inviting organization can {} this link",
                        action.name()
                    )));
                }
                LinkAction::Accept | LinkAction::Decline | LinkAction::Cancel
                    if current != LinkStatus::Pending =>
                {
                    return Err(wrong_state("`pending`"));
                }
                LinkAction::Resend if current != LinkStatus::Declined => {
                    return Err(wrong_state("`declined`"));
                }
                _ => {}
            }
            let from = load_org(&view, link.from_org)?;
            let to = load_org(&view, link.to_org)?;
            let next = match action {
                LinkAction::Accept => {
                    require_active(&from)?;
                    require_active(&to)?;
                    ask_link_policy(&app, &view, &access, input::LinkAction::Accept, &from, &to)?;
                    check_cap(&view, &from, now)?;
                    check_cap(&view, &to, now)?;
                    LinkStatus::Active
                }
                LinkAction::Resend => {
                    require_active(&from)?;
                    require_active(&to)?;
                    check_pending_quota(
                        &view,
                        org,
                        app.settings.quotas.pending_links_per_org,
                        now,
                    )?;
                    clear_stale_pair(tx, from.id, to.id, now)?;
                    ask_link_policy(&app, &view, &access, input::LinkAction::Resend, &from, &to)?;
                    link.expires_at = now.plus(app.settings.pending_link_ttl());
                    LinkStatus::Pending
                }
                LinkAction::Decline => LinkStatus::Declined,
                LinkAction::Cancel => LinkStatus::Cancelled,
            };
            link.change(next, now, actor.user_id);
            tx.put_link(&link)?;
            audit(tx, &access, &audit_action, Some(id.to_string()), now)?;
            announce(tx, &link, now)?;
            link_view(&view, &link, org, now)
        })
        .await
    }

    /// Ends an active link from either side; every share over it is revoked in the same
    /// transaction.
    pub async fn unlink(&self, actor: Actor, org: OrgId, id: LinkId) -> Result<LinkView> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(&view, actor, org, "link.unlink", json!({"link_id": id}))?;
            let mut link = load_link(&view, org, id)?;
            if link.status_at(now) != LinkStatus::Active {
                return Err(Error::Conflict(format!(
                    "cannot unlink a link that is `{}`; it must be `active`",
                    link.status_at(now).as_str()
                )));
            }
            for share in view.shares_over(id)? {
                super::shares::revoke_share(tx, share, "link ended", now)?;
            }
            link.change(LinkStatus::Unlinked, now, actor.user_id);
            tx.put_link(&link)?;
            audit(tx, &access, "link.unlink", Some(id.to_string()), now)?;
            announce(tx, &link, now)?;
            link_view(&view, &link, org, now)
        })
        .await
    }
}
