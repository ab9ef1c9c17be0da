//! Changes a provider asked of a customer, listed under the customer organization.

use crate::domain::change_request::ChangeRequest;
use crate::domain::ids::{ChangeRequestId, OrgId};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    pub fn insert_change_request(&self, request: &ChangeRequest) -> Result<(), StorageError> {
        self.put(tables::CHANGE_REQUESTS, request.id.key(), request)?;
        self.add_child(
            tables::ORG_CHANGE_REQUESTS,
            request.org_id.key(),
            request.id.key(),
        )
    }

    /// Stores a request's new state (answered, superseded).
    pub fn put_change_request(&self, request: &ChangeRequest) -> Result<(), StorageError> {
        self.put(tables::CHANGE_REQUESTS, request.id.key(), request)
    }

    /// Removes every request made of `org` (its deletion).
    pub fn delete_change_requests_of(&self, org: OrgId) -> Result<(), StorageError> {
        for id in self.view().change_requests_of(org)? {
            self.delete(tables::CHANGE_REQUESTS, id.key())?;
        }
        self.remove_children(tables::ORG_CHANGE_REQUESTS, org.key())
    }
}

impl View<'_> {
    pub fn change_request(
        &self,
        id: ChangeRequestId,
    ) -> Result<Option<ChangeRequest>, StorageError> {
        self.record(tables::CHANGE_REQUESTS, id.key())
    }

    /// Every request made of `org`, oldest first.
    pub fn change_requests_of(&self, org: OrgId) -> Result<Vec<ChangeRequestId>, StorageError> {
        super::ids(
            self,
            tables::ORG_CHANGE_REQUESTS,
            org.key(),
            ChangeRequestId::from_key,
        )
    }
}
