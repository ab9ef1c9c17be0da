//! Remote-support requests and grants, listed under the customer organization and under the
//! person who asked.

use crate::domain::clock::Timestamp;
use crate::domain::ids::{OrgId, RemoteSupportId, UserId};
use crate::domain::remote_support::RemoteSupport;
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    pub fn insert_remote_support(&self, request: &RemoteSupport) -> Result<(), StorageError> {
        let id = request.id.key();
        super::move_deadline(
            self,
            tables::REMOTE_SUPPORT_DEADLINES,
            id,
            None,
            request.deadline(),
        )?;
        self.put(tables::REMOTE_SUPPORT, id, request)?;
        self.add_child(tables::ORG_REMOTE_SUPPORT, request.org_id.key(), id)?;
        self.add_child(
            tables::REQUESTER_REMOTE_SUPPORT,
            request.requester_id.key(),
            id,
        )
    }

    /// Stores a request's new state (decided, granted, ended, expired).
    pub fn put_remote_support(&self, request: &RemoteSupport) -> Result<(), StorageError> {
        let id = request.id.key();
        let before = self
            .view()
            .remote_support(request.id)?
            .and_then(|r| r.deadline());
        super::move_deadline(
            self,
            tables::REMOTE_SUPPORT_DEADLINES,
            id,
            before,
            request.deadline(),
        )?;
        self.put(tables::REMOTE_SUPPORT, id, request)
    }

    pub fn delete_remote_support(&self, id: RemoteSupportId) -> Result<(), StorageError> {
        let Some(request) = self.view().remote_support(id)? else {
            return Ok(());
        };
        super::move_deadline(
            self,
            tables::REMOTE_SUPPORT_DEADLINES,
            id.key(),
            request.deadline(),
            None,
        )?;
        self.remove_child(tables::ORG_REMOTE_SUPPORT, request.org_id.key(), id.key())?;
        self.remove_child(
            tables::REQUESTER_REMOTE_SUPPORT,
            request.requester_id.key(),
            id.key(),
        )?;
        self.delete(tables::REMOTE_SUPPORT, id.key())
    }
}

impl View<'_> {
    pub fn remote_support(
        &self,
        id: RemoteSupportId,
    ) -> Result<Option<RemoteSupport>, StorageError> {
        self.record(tables::REMOTE_SUPPORT, id.key())
    }

    /// The requests made on `org`, oldest first.
    pub fn remote_support_on(&self, org: OrgId) -> Result<Vec<RemoteSupportId>, StorageError> {
        super::ids(
            self,
            tables::ORG_REMOTE_SUPPORT,
            org.key(),
            RemoteSupportId::from_key,
        )
    }

    /// The requests `requester` made, on any organization.
    pub fn remote_support_by(
        &self,
        requester: UserId,
    ) -> Result<Vec<RemoteSupportId>, StorageError> {
        super::ids(
            self,
            tables::REQUESTER_REMOTE_SUPPORT,
            requester.key(),
            RemoteSupportId::from_key,
        )
    }

    /// Up to `limit` requests whose deadline is `now` or earlier (pending ones to expire,
    /// grants to end).
    pub fn remote_support_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<RemoteSupportId>, StorageError> {
        Ok(self
            .due(
                tables::REMOTE_SUPPORT_DEADLINES,
                super::deadline_key(now),
                None,
                limit,
            )?
            .into_iter()
            .map(|(_, id)| RemoteSupportId::from_key(id))
            .collect())
    }
}
