//! Invitations and their indexes: the token digest (unique: a token names one invitation), the
//! organization's invitations and the invitee's.

use crate::domain::credential::Invitation;
use crate::domain::ids::{InvitationId, OrgId, UserId};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    /// Stores a new invitation, listed under its organization and its invitee.
    pub fn insert_invitation(&self, invitation: &Invitation) -> Result<(), StorageError> {
        let id = invitation.id.key();
        self.put(tables::INVITATIONS, id, invitation)?;
        self.insert_unique(tables::INVITATION_BY_HASH, &invitation.digest, id)?;
        self.add_child(tables::ORG_INVITATIONS, invitation.org_id.key(), id)?;
        self.add_child(tables::USER_INVITATIONS, invitation.user_id.key(), id)
    }

    /// Stores an invitation's new state (its use).
    pub fn put_invitation(&self, invitation: &Invitation) -> Result<(), StorageError> {
        self.put(tables::INVITATIONS, invitation.id.key(), invitation)
    }

    /// Removes an invitation with its index entries; its token stops naming anything.
    pub fn delete_invitation(&self, id: InvitationId) -> Result<(), StorageError> {
        let Some(invitation) = self.view().invitation(id)? else {
            return Ok(());
        };
        self.remove_unique(tables::INVITATION_BY_HASH, &invitation.digest)?;
        self.remove_child(tables::ORG_INVITATIONS, invitation.org_id.key(), id.key())?;
        self.remove_child(tables::USER_INVITATIONS, invitation.user_id.key(), id.key())?;
        self.delete(tables::INVITATIONS, id.key())
    }
}

impl View<'_> {
    pub fn invitation(&self, id: InvitationId) -> Result<Option<Invitation>, StorageError> {
        self.record(tables::INVITATIONS, id.key())
    }

    /// The invitation whose token has this digest (the caller compares digests in constant
    /// time).
    pub fn invitation_by_digest(&self, digest: &str) -> Result<Option<Invitation>, StorageError> {
        match self.unique(tables::INVITATION_BY_HASH, digest)? {
            Some(id) => self.record(tables::INVITATIONS, id),
            None => Ok(None),
        }
    }

    /// Every invitation `org` made, used ones included, in creation order.
    pub fn invitations_of_org(&self, org: OrgId) -> Result<Vec<InvitationId>, StorageError> {
        super::ids(
            self,
            tables::ORG_INVITATIONS,
            org.key(),
            InvitationId::from_key,
        )
    }

    /// Every invitation addressed to `user`.
    pub fn invitations_to(&self, user: UserId) -> Result<Vec<InvitationId>, StorageError> {
        super::ids(
            self,
            tables::USER_INVITATIONS,
            user.key(),
            InvitationId::from_key,
        )
    }
}
