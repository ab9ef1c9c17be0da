//! Teams and channels, each listed under its organization.

use crate::domain::ids::{OrgId, ResourceId};
use crate::domain::resource::{Resource, ResourceKind};
use crate::storage::tables::{Children, Records};
use crate::storage::{StorageError, Tx, View, tables};

fn tables_of(kind: ResourceKind) -> (Records, Children) {
    match kind {
        ResourceKind::Team => (tables::TEAMS, tables::ORG_TEAMS),
        ResourceKind::Channel => (tables::CHANNELS, tables::ORG_CHANNELS),
    }
}

impl Tx<'_> {
    /// Stores a new team or channel, listed under its organization.
    pub fn insert_resource(&self, resource: &Resource) -> Result<(), StorageError> {
        let (table, index) = tables_of(resource.kind);
        self.put(table, resource.id.key(), resource)?;
        self.add_child(index, resource.org_id.key(), resource.id.key())
    }

    /// Stores a team's or channel's new state.
    pub fn put_resource(&self, resource: &Resource) -> Result<(), StorageError> {
        self.put(tables_of(resource.kind).0, resource.id.key(), resource)
    }

    /// Removes a team or channel and its lists (its shares stay, ended, for the other side; and
    /// the memberships naming a team are the caller's).
    pub fn delete_resource(&self, resource: &Resource) -> Result<(), StorageError> {
        let (table, index) = tables_of(resource.kind);
        self.remove_children(tables::RESOURCE_SHARES, resource.id.key())?;
        self.remove_child(index, resource.org_id.key(), resource.id.key())?;
        self.delete(table, resource.id.key())
    }
}

impl View<'_> {
    pub fn resource(
        &self,
        kind: ResourceKind,
        id: ResourceId,
    ) -> Result<Option<Resource>, StorageError> {
        self.record(tables_of(kind).0, id.key())
    }

    /// The teams or the channels of `org`, in creation order.
    pub fn resources_of(
        &self,
        org: OrgId,
        kind: ResourceKind,
    ) -> Result<Vec<ResourceId>, StorageError> {
        super::ids(self, tables_of(kind).1, org.key(), ResourceId::from_key)
    }

    /// How many teams or channels `org` has, without reading their ids.
    pub fn count_resources(&self, org: OrgId, kind: ResourceKind) -> Result<usize, StorageError> {
        let count = self.count_children(tables_of(kind).1, org.key())?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }
}
