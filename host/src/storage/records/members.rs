//! Memberships and their indexes: each user's organizations, and the phone extensions of an
//! organization (unique within it).

use crate::domain::ids::{OrgId, UserId};
use crate::domain::member::Membership;
use crate::storage::{StorageError, Tx, View, tables};

/// The key of an extension in its organization's index.
fn extension_key(org: OrgId, extension: &str) -> String {
    format!("{org}:{extension}")
}

impl Tx<'_> {
    /// Stores a membership, new or changed: the user lists the organization, and its
    /// extension is the member's alone in the organization ([`StorageError::Duplicate`] when
    /// another member holds it).
    pub fn put_membership(&self, m: &Membership) -> Result<(), StorageError> {
        let old = self.view().membership(m.org_id, m.user_id)?;
        self.store_membership(m, old.as_ref())
    }

    /// Stores the first membership of a user created in this same write: none can exist yet,
    /// so the previous one is not looked up (on PostgreSQL a round trip under the write lock).
    pub fn insert_new_users_membership(&self, m: &Membership) -> Result<(), StorageError> {
        self.store_membership(m, None)
    }

    fn store_membership(
        &self,
        m: &Membership,
        old: Option<&Membership>,
    ) -> Result<(), StorageError> {
        let (org, user) = (m.org_id, m.user_id);
        let old_extension = old.and_then(|o| o.extension.as_deref());
        if old_extension != m.extension.as_deref() {
            if let Some(extension) = &m.extension {
                let key = extension_key(org, extension);
                match self.view().unique(tables::ORG_EXTENSIONS, &key)? {
                    Some(holder) if holder != user.key() => {
                        return Err(StorageError::Duplicate(format!(
                            "extension `{extension}` is already another member's in this organization"
                        )));
                    }
                    _ => self.set_unique(tables::ORG_EXTENSIONS, &key, user.key())?,
                }
            }
            if let Some(extension) = old_extension {
                self.remove_unique(tables::ORG_EXTENSIONS, &extension_key(org, extension))?;
            }
        }
        if old.is_none() {
            self.add_child(tables::USER_ORGS, user.key(), org.key())?;
        }
        self.put_pair(tables::MEMBERSHIPS, org.key(), user.key(), m)
    }

    /// Removes a membership with its index entries (teams and invitations are the caller's).
    pub fn delete_membership(&self, org: OrgId, user: UserId) -> Result<(), StorageError> {
        let Some(old) = self.view().membership(org, user)? else {
            return Ok(());
        };
        if let Some(extension) = &old.extension {
            self.remove_unique(tables::ORG_EXTENSIONS, &extension_key(org, extension))?;
        }
        self.remove_child(tables::USER_ORGS, user.key(), org.key())?;
        self.delete_pair(tables::MEMBERSHIPS, org.key(), user.key())
    }
}

impl View<'_> {
    pub fn membership(&self, org: OrgId, user: UserId) -> Result<Option<Membership>, StorageError> {
        self.pair(tables::MEMBERSHIPS, org.key(), user.key())
    }

    /// [`View::membership`] for the caller of a request, decoded as [`View::recurring_org`] is.
    pub fn recurring_membership(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Option<Membership>, StorageError> {
        self.recurring_pair(tables::MEMBERSHIPS, org.key(), user.key())
    }

    /// Up to `limit` members of `org` after `after`, in user-id order.
    pub fn members_of(
        &self,
        org: OrgId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>, StorageError> {
        Ok(self
            .pairs::<Membership>(
                tables::MEMBERSHIPS,
                org.key(),
                after.map(UserId::key),
                limit,
            )?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// Every member of `org`.
    pub fn all_members_of(&self, org: OrgId) -> Result<Vec<Membership>, StorageError> {
        self.members_of(org, None, usize::MAX)
    }

    pub fn member_count(&self, org: OrgId) -> Result<usize, StorageError> {
        self.count_pairs(tables::MEMBERSHIPS, org.key())
    }

    /// The organizations `user` is a member of (in any status).
    pub fn orgs_of(&self, user: UserId) -> Result<Vec<OrgId>, StorageError> {
        super::ids(self, tables::USER_ORGS, user.key(), OrgId::from_key)
    }

    /// The member of `org` with this phone extension.
    pub fn member_by_extension(
        &self,
        org: OrgId,
        extension: &str,
    ) -> Result<Option<UserId>, StorageError> {
        Ok(self
            .unique(tables::ORG_EXTENSIONS, &extension_key(org, extension))?
            .map(UserId::from_key))
    }
}
