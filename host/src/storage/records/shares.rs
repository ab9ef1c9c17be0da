//! Shares and their indexes: each side's shares, the shares over a link and the shares of a
//! resource; at most one active share of a resource over a link.

use crate::domain::ids::{LinkId, OrgId, ResourceId, ShareId};
use crate::domain::resource::ResourceKind;
use crate::domain::share::{Share, ShareStatus};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    /// Stores a new active share, listed under both sides, its link and its resource.
    pub fn insert_share(&self, share: &Share) -> Result<(), StorageError> {
        self.view()
            .refuse_second_share(share.resource_kind, share.resource_id, share.link_id)?;
        let id = share.id.key();
        self.put(tables::SHARES, id, share)?;
        self.add_child(tables::ORG_SHARES, share.owner_org.key(), id)?;
        self.add_child(tables::ORG_SHARES, share.peer_org.key(), id)?;
        self.add_child(tables::LINK_SHARES, share.link_id.key(), id)?;
        self.add_child(tables::RESOURCE_SHARES, share.resource_id.key(), id)
    }

    /// Stores a share's new state (a revocation).
    pub fn put_share(&self, share: &Share) -> Result<(), StorageError> {
        self.put(tables::SHARES, share.id.key(), share)
    }
}

impl View<'_> {
    /// Refuses ([`StorageError::Duplicate`]) a share of `resource` over `link` while it has an
    /// active one there.
    pub fn refuse_second_share(
        &self,
        kind: ResourceKind,
        resource: ResourceId,
        link: LinkId,
    ) -> Result<(), StorageError> {
        for id in self.shares_of_resource(resource)? {
            if self
                .share(id)?
                .is_some_and(|s| s.link_id == link && s.status == ShareStatus::Active)
            {
                return Err(StorageError::Duplicate(format!(
                    "this {} is already shared over this link",
                    kind.as_str()
                )));
            }
        }
        Ok(())
    }

    pub fn share(&self, id: ShareId) -> Result<Option<Share>, StorageError> {
        self.record(tables::SHARES, id.key())
    }

    /// Every share `org` sent or received, in any state, in creation order.
    pub fn shares_of(&self, org: OrgId) -> Result<Vec<ShareId>, StorageError> {
        super::ids(self, tables::ORG_SHARES, org.key(), ShareId::from_key)
    }

    /// Every share made over `link`.
    pub fn shares_over(&self, link: LinkId) -> Result<Vec<ShareId>, StorageError> {
        super::ids(self, tables::LINK_SHARES, link.key(), ShareId::from_key)
    }

    /// Every share of one team or channel.
    pub fn shares_of_resource(&self, resource: ResourceId) -> Result<Vec<ShareId>, StorageError> {
        super::ids(
            self,
            tables::RESOURCE_SHARES,
            resource.key(),
            ShareId::from_key,
        )
    }

    /// Up to `limit` shares after `after`, in id (creation) order.
    pub fn all_shares(
        &self,
        after: Option<ShareId>,
        limit: usize,
    ) -> Result<Vec<Share>, StorageError> {
        super::all(self, tables::SHARES, after.map(ShareId::key), limit)
    }
}
