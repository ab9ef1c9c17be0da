//! Sharing a team or channel over an active link.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::access::load_org;
use super::actor::Actor;
use super::journal::{audit, emit};
use super::resources::load_resource;
use super::{App, Page, PageRequest};
use crate::domain::clock::Timestamp;
use crate::domain::ids::{LinkId, OrgId, ResourceId, ShareId};
use crate::domain::link::{Link, LinkStatus};
use crate::domain::resource::ResourceKind;
use crate::domain::share::{Share, ShareStatus};
use crate::error::{Error, Result};
use crate::policy::input::{self, LinkRef, OrgInput, ShareInput};
use crate::storage::{Tx, View};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    pub id: ResourceId,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"link_id": "0192f1a5-0d2b-7e44-8f3a-61c7b9e0d2f4", "resource": {"kind": "team", "id": "0192f1a5-3a81-7c09-b6de-0f4a2c9e7b31"}}))]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    pub link_id: LinkId,
    pub resource: ResourceRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareViewKind {
    Sent,
    Received,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SharedResource {
    pub kind: ResourceKind,
    pub id: ResourceId,
    pub name: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ShareView {
    pub id: ShareId,
    pub link_id: LinkId,
    pub status: ShareStatus,
    pub owner_org_id: OrgId,
    pub peer_org_id: OrgId,
    pub resource: SharedResource,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

fn share_view(view: &View<'_>, share: &Share) -> Result<ShareView> {
    let name = view
        .resource(share.resource_kind, share.resource_id)?
        .map(|r| r.name)
        .unwrap_or_default();
    Ok(ShareView {
        id: share.id,
        link_id: share.link_id,
        status: share.status,
        owner_org_id: share.owner_org,
        peer_org_id: share.peer_org,
        resource: SharedResource {
            kind: share.resource_kind,
            id: share.resource_id,
            name,
        },
        created_at: share.created_at,
        revoked_at: share.revoked_at,
        revoked_reason: share.revoked_reason.clone(),
    })
}

/// Revokes one share (idempotent); used by revoke, unlink, and deletions.
pub fn revoke_share(tx: &Tx<'_>, id: ShareId, reason: &str, now: Timestamp) -> Result<()> {
    let Some(mut share) = tx.view().share(id)? else {
        return Ok(());
    };
    if share.status == ShareStatus::Revoked {
        return Ok(());
    }
    share.status = ShareStatus::Revoked;
    share.revoked_at = Some(now);
    share.revoked_reason = Some(reason.to_owned());
    tx.put_share(&share)?;
    for org in [share.owner_org, share.peer_org] {
        emit(
            tx,
            org,
            "share.changed",
            json!({"share_id": share.id, "status": share.status, "reason": reason}),
            now,
        )?;
    }
    Ok(())
}

impl App {
    pub async fn create_share(
        &self,
        actor: Actor,
        org: OrgId,
        body: NewShare,
    ) -> Result<ShareView> {
        let app = self.clone();
        self.write(move |tx| {
                let view = tx.view();
                let now = app.clock.now();
                let resource_json = json!({"kind": body.resource.kind, "id": body.resource.id, "link_id": body.link_id});
                let access = app.access(&view, actor, org, "share.create", resource_json)?;
                let link: Link = view
                    .link(body.link_id)?
                    .filter(|l| l.involves(org))
                    .ok_or(Error::NotFound("link"))?;
                let link_status = link.status_at(now);
                if link_status != LinkStatus::Active {
                    return Err(Error::Conflict(format!("resources are shared only over an active link; this link is `{}`", link_status.as_str())));
                }
                let resource = load_resource(&view, body.resource.kind, org, body.resource.id)?;
                let peer = load_org(&view, link.peer_of(org))?;
                // Refused before the share policy runs: tenant code is not run for a request
                // that fails anyway (the store refuses it again on insert).
                view.refuse_second_share(resource.kind, resource.id, link.id)?;
                let input = ShareInput {
                    actor: access.actor_input(),
                    org: OrgInput::of(&access.org),
                    peer: OrgInput::of(&peer),
                    link: LinkRef { id: link.id.to_string(), status: link_status },
                    resource: input::SharedResource {
                        kind: resource.kind,
                        id: resource.id.to_string(),
                        name: resource.name.clone(),
                        org_id: resource.org_id.to_string(),
                    },
                    now,
                };
                super::access::forbid_unless_allowed(app.ask(access.subject(), input))?;
                let share = Share {
                    id: ShareId::new(),
                    link_id: link.id,
                    owner_org: org,
                    peer_org: peer.id,
                    resource_kind: resource.kind,
                    resource_id: resource.id,
                    status: ShareStatus::Active,
                    created_at: now,
                    revoked_at: None,
                    revoked_reason: None,
                };
                tx.insert_share(&share)?;
                audit(tx, &access, "share.create", Some(share.id.to_string()), now)?;
                for o in [org, peer.id] {
                    emit(tx, o, "share.changed", json!({"share_id": share.id, "status": share.status}), now)?;
                }
                share_view(&view, &share)
            })
            .await
    }

    /// Active shares sent by or received by `org`.
    pub fn list_shares(
        &self,
        actor: Actor,
        org: OrgId,
        kind: ShareViewKind,
        page: PageRequest,
    ) -> Result<Page<ShareView>> {
        self.store.read(|view| {
            self.access(view, actor, org, "share.list", Value::Null)?;
            let mut items = Vec::new();
            for id in view
                .shares_of(org)?
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| id.key() > a))
            {
                let Some(share) = view.share(id)? else {
                    continue;
                };
                let mine = share.owner_org == org;
                if share.status != ShareStatus::Active || mine != (kind == ShareViewKind::Sent) {
                    continue;
                }
                items.push(share_view(view, &share)?);
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |s: &ShareView| {
                s.id.key()
            }))
        })
    }

    pub async fn revoke(&self, actor: Actor, org: OrgId, id: ShareId) -> Result<()> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let access = app.access(&view, actor, org, "share.revoke", json!({"share_id": id}))?;
            let share: Share = view
                .share(id)?
                .filter(|s| s.owner_org == org || s.peer_org == org)
                .ok_or(Error::NotFound("share"))?;
            if share.status == ShareStatus::Revoked {
                return Err(Error::Conflict("share is already revoked".into()));
            }
            revoke_share(tx, id, "revoked", now)?;
            audit(tx, &access, "share.revoke", Some(id.to_string()), now)?;
            Ok(())
        })
        .await
    }
}
