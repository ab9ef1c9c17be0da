//! Teams and support channels, handled alike: they are the shareable resources.

use serde::Deserialize;
use serde_json::{Value, json};

use super::actor::Actor;
use super::journal::{audit, emit};
use super::quotas::Quotas;
use super::{App, Page, PageRequest};
use crate::domain::ids::{OrgId, ResourceId, UserId};
use crate::domain::resource::{CHANNEL_KINDS, ChannelKind, Resource, ResourceKind};
use crate::error::{Error, Result};
use crate::storage::{Tx, View};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Hotline", "member_ids": []}))]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    pub name: Option<String>,
    /// Channels only: what the channel carries.
    pub kind: Option<String>,
    /// Teams only: initial members.
    pub member_ids: Option<Vec<UserId>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Second-level support"}))]
#[serde(deny_unknown_fields)]
pub struct ResourcePatch {
    pub name: Option<String>,
    pub member_ids: Option<Vec<UserId>>,
}

fn invalid(kind: ResourceKind, field: &str, reason: impl Into<String>) -> Error {
    Error::field(format!("{} is invalid", kind.as_str()), field, reason)
}

fn check_name(kind: ResourceKind, name: Option<&str>) -> Result<String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid(kind, "name", "must be 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

fn check_members(
    view: &View<'_>,
    kind: ResourceKind,
    org: OrgId,
    members: &[UserId],
) -> Result<()> {
    if kind == ResourceKind::Channel && !members.is_empty() {
        return Err(invalid(kind, "member_ids", "channels have no members"));
    }
    for user in members {
        if view.membership(org, *user)?.is_none() {
            return Err(invalid(
                kind,
                "member_ids",
                format!("`{user}` is not a member of this organization"),
            ));
        }
    }
    Ok(())
}

/// A resource of `org` (404 for another organization's).
pub fn load_resource(
    view: &View<'_>,
    kind: ResourceKind,
    org: OrgId,
    id: ResourceId,
) -> Result<Resource> {
    view.resource(kind, id)?
        .filter(|r| r.org_id == org)
        .ok_or(Error::NotFound(kind.as_str()))
}

fn set_team_membership(
    tx: &Tx<'_>,
    org: OrgId,
    team: ResourceId,
    user: UserId,
    member: bool,
) -> Result<()> {
    let view = tx.view();
    if let Some(mut m) = view.membership(org, user)? {
        m.team_ids.retain(|t| *t != team);
        if member {
            m.team_ids.push(team);
        }
        tx.put_membership(&m)?;
    }
    Ok(())
}

impl App {
    pub async fn create_resource(
        &self,
        actor: Actor,
        org: OrgId,
        kind: ResourceKind,
        body: NewResource,
    ) -> Result<Resource> {
        let name = check_name(kind, body.name.as_deref())?;
        let channel_kind = match (kind, body.kind.as_deref()) {
            (ResourceKind::Channel, Some(k)) => Some(
                serde_json::from_value::<ChannelKind>(json!(k)).map_err(|_| {
                    invalid(
                        kind,
                        "kind",
                        format!("`{k}` is not one of: {CHANNEL_KINDS}"),
                    )
                })?,
            ),
            (ResourceKind::Channel, None) => {
                return Err(invalid(
                    kind,
                    "kind",
                    format!("is required: one of {CHANNEL_KINDS}"),
                ));
            }
            (ResourceKind::Team, Some(_)) => {
                return Err(invalid(kind, "kind", "teams have no kind"));
            }
            (ResourceKind::Team, None) => None,
        };
        let members = body.member_ids.unwrap_or_default();
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let action = format!("{}.create", kind.as_str());
            let access = app.access(&view, actor, org, &action, json!({"name": name}))?;
            let count = view.count_resources(org, kind)?;
            match kind {
                ResourceKind::Team => {
                    let max = view.limits_of(&access.org)?.max_teams as usize;
                    if count >= max {
                        return Err(Error::Conflict(format!(
                            "organization `{}` has {count} of {max} teams allowed by its plan",
                            access.org.tenant_id
                        )));
                    }
                }
                ResourceKind::Channel => Quotas::check(
                    "channels_per_org",
                    count,
                    1,
                    app.settings.quotas.channels_per_org,
                    "delete a channel that is no longer used",
                )?,
            }
            check_members(&view, kind, org, &members)?;
            let resource = Resource {
                id: ResourceId::new(),
                org_id: org,
                kind,
                name,
                channel_kind,
                member_ids: members,
                created_at: now,
            };
            tx.insert_resource(&resource)?;
            for user in &resource.member_ids {
                set_team_membership(tx, org, resource.id, *user, true)?;
            }
            audit(tx, &access, &action, Some(resource.id.to_string()), now)?;
            emit(
                tx,
                org,
                &format!("{}.created", kind.as_str()),
                json!({"org_id": org, "id": resource.id}),
                now,
            )?;
            Ok(resource)
        })
        .await
    }

    pub fn list_resources(
        &self,
        actor: Actor,
        org: OrgId,
        kind: ResourceKind,
        page: PageRequest,
    ) -> Result<Page<Resource>> {
        self.store.read(|view| {
            self.access(
                view,
                actor,
                org,
                &format!("{}.list", kind.as_str()),
                Value::Null,
            )?;
            let mut items = Vec::new();
            for id in view
                .resources_of(org, kind)?
                .into_iter()
                .filter(|id| page.after.is_none_or(|a| id.key() > a))
            {
                if let Some(r) = view.resource(kind, id)? {
                    items.push(r);
                }
                if items.len() > page.limit {
                    break;
                }
            }
            Ok(Page::from_sorted(items, page.limit, |r: &Resource| {
                r.id.key()
            }))
        })
    }

    pub fn get_resource(
        &self,
        actor: Actor,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
    ) -> Result<Resource> {
        self.read_small(move |app, view| {
            app.access(
                view,
                actor,
                org,
                &format!("{}.read", kind.as_str()),
                json!({"id": id}),
            )?;
            load_resource(view, kind, org, id)
        })
    }

    pub async fn update_resource(
        &self,
        actor: Actor,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        patch: ResourcePatch,
    ) -> Result<Resource> {
        let name = patch
            .name
            .as_deref()
            .map(|n| check_name(kind, Some(n)))
            .transpose()?;
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let action = format!("{}.update", kind.as_str());
            let access = app.access(&view, actor, org, &action, json!({"id": id}))?;
            let mut resource = load_resource(&view, kind, org, id)?;
            if let Some(name) = name {
                resource.name = name;
            }
            if let Some(members) = patch.member_ids {
                check_members(&view, kind, org, &members)?;
                for user in &resource.member_ids {
                    set_team_membership(tx, org, id, *user, false)?;
                }
                for user in &members {
                    set_team_membership(tx, org, id, *user, true)?;
                }
                resource.member_ids = members;
            }
            tx.put_resource(&resource)?;
            audit(tx, &access, &action, Some(id.to_string()), now)?;
            Ok(resource)
        })
        .await
    }

    /// Deletes a team or channel and revokes every share of it.
    pub async fn delete_resource(
        &self,
        actor: Actor,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
    ) -> Result<()> {
        let app = self.clone();
        self.write(move |tx| {
            let view = tx.view();
            let now = app.clock.now();
            let action = format!("{}.delete", kind.as_str());
            let access = app.access(&view, actor, org, &action, json!({"id": id}))?;
            let resource = load_resource(&view, kind, org, id)?;
            for share in view.shares_of_resource(id)? {
                super::shares::revoke_share(tx, share, "resource deleted", now)?;
            }
            for user in &resource.member_ids {
                set_team_membership(tx, org, id, *user, false)?;
            }
            tx.delete_resource(&resource)?;
            audit(tx, &access, &action, Some(id.to_string()), now)?;
            emit(
                tx,
                org,
                &format!("{}.deleted", kind.as_str()),
                json!({"org_id": org, "id": id}),
                now,
            )?;
            Ok(())
        })
        .await
    }
}
