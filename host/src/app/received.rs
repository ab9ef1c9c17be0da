//! Shared resources as the receiving organization uses them: a peer's members read a team it
//! received (its name, and its members' names and roles) or a channel (its name and kind).
//!
//! Reading one is the `authorize` action `shared.read`, whose input names the sharing
//! organization and the link, so a provider or the receiving organization can widen or narrow
//! it by policy (the platform lets the receiving organization's members read). Access ends the
//! moment the share is revoked, the resource deleted or the link ended: the read checks all
//! three every time. The sharing organization has its say when it shares (the `share` hook)
//! and by revoking; its layers are not asked on each read, where the reader has no standing.

use serde::Serialize;
use serde_json::json;

use super::App;
use super::access::{self, load_org};
use super::actor::Actor;
use crate::domain::ids::{LinkId, OrgId, ResourceId, ShareId};
use crate::domain::link::LinkStatus;
use crate::domain::member::{Membership, MembershipStatus, Role};
use crate::domain::resource::{ChannelKind, ResourceKind};
use crate::domain::share::{Share, ShareStatus};
use crate::error::{Error, Result};
use crate::policy::input::OrgInput;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SharingOrg {
    pub id: OrgId,
    pub name: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TeamMember {
    pub name: String,
    /// The member's role in the sharing organization.
    pub role: Role,
}

/// What the receiving organization sees of a shared resource.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReceivedResource {
    Team {
        id: ResourceId,
        name: String,
        members: Vec<TeamMember>,
    },
    Channel {
        id: ResourceId,
        name: String,
        channel_kind: Option<ChannelKind>,
    },
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Received {
    pub share_id: ShareId,
    pub link_id: LinkId,
    pub sharing_org: SharingOrg,
    pub resource: ReceivedResource,
}

impl App {
    /// The resource shared with `org` by `share`, for a caller `shared.read` allows.
    pub fn received(&self, actor: Actor, org: OrgId, share: ShareId) -> Result<Received> {
        let now = self.clock.now();
        self.store.read(|view| {
            let access = access::load(view, actor, org, now)?;
            let share: Share = view
                .share(share)?
                .filter(|s| s.peer_org == org)
                .ok_or(Error::NotFound("share"))?;
            // That a share ended is told only to a caller who may read shares at all.
            let gone = |reason: String| -> Result<Received> {
                self.authorize(
                    &access,
                    "shared.read",
                    json!({"share_id": share.id, "ended": true}),
                )?;
                Err(Error::Gone(reason))
            };
            if share.status != ShareStatus::Active {
                return gone(format!(
                    "this share ended ({})",
                    share.revoked_reason.as_deref().unwrap_or("revoked")
                ));
            }
            let Some(link) = view.link(share.link_id)? else {
                return gone("the link this share went over has ended".into());
            };
            let link_status = link.status_at(now);
            if link_status != LinkStatus::Active {
                return gone(format!(
                    "the link this share went over is `{}`",
                    link_status.as_str()
                ));
            }
            let Some(resource) = view.resource(share.resource_kind, share.resource_id)? else {
                return gone("the shared resource was deleted".into());
            };
            let sharing = load_org(view, share.owner_org)?;
            self.authorize(
                &access,
                "shared.read",
                json!({
                    "share_id": share.id,
                    "kind": resource.kind,
                    "resource": {"id": resource.id, "name": resource.name},
                    "sharing_org": OrgInput::of(&sharing),
                    "link": {"id": link.id, "status": link_status},
                }),
            )?;
            self.audit_grant_read(&access, "shared.read");
            let shown = match resource.kind {
                ResourceKind::Team => {
                    let mut members = Vec::new();
                    for user in &resource.member_ids {
                        let membership: Option<Membership> = view.membership(sharing.id, *user)?;
                        let Some(m) = membership.filter(|m| m.status == MembershipStatus::Active)
                        else {
                            continue;
                        };
                        if let Some(u) = view.user(*user)? {
                            members.push(TeamMember {
                                name: u.name,
                                role: m.role,
                            });
                        }
                    }
                    ReceivedResource::Team {
                        id: resource.id,
                        name: resource.name,
                        members,
                    }
                }
                ResourceKind::Channel => ReceivedResource::Channel {
                    id: resource.id,
                    name: resource.name,
                    channel_kind: resource.channel_kind,
                },
            };
            Ok(Received {
                share_id: share.id,
                link_id: link.id,
                sharing_org: SharingOrg {
                    id: sharing.id,
                    name: sharing.name,
                },
                resource: shown,
            })
        })
    }
}
