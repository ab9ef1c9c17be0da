//! Each organization's audit entries and outbox events, kept in creation order (ids are UUID
//! v7, so a range of ids is a range of time).

use crate::domain::ids::{EntryId, OrgId};
use crate::domain::journal::{AuditEntry, Event};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    pub fn append_audit(&self, org: OrgId, entry: &AuditEntry) -> Result<(), StorageError> {
        self.put_pair(tables::AUDIT, org.key(), entry.id.key(), entry)
    }

    /// Appends a batch of audit entries: one statement on PostgreSQL.
    pub fn append_audits<'e>(
        &self,
        entries: impl IntoIterator<Item = (OrgId, &'e AuditEntry)>,
    ) -> Result<(), StorageError> {
        self.put_pairs(
            tables::AUDIT,
            entries
                .into_iter()
                .map(|(org, entry)| ((org.key(), entry.id.key()), entry)),
        )
    }

    pub fn append_event(&self, org: OrgId, event: &Event) -> Result<(), StorageError> {
        self.put_pair(tables::EVENTS, org.key(), event.id.key(), event)
    }

    /// Removes up to `limit` events older than `cutoff` (Unix ms), every organization's;
    /// returns how many.
    pub fn prune_events_before(&self, cutoff: i64, limit: usize) -> Result<usize, StorageError> {
        let keys = self
            .view()
            .old_pair_keys(tables::EVENTS, limit, |e: &Event| e.at.0 < cutoff)?;
        for (org, id) in &keys {
            self.delete_pair(tables::EVENTS, *org, *id)?;
        }
        Ok(keys.len())
    }
}

impl View<'_> {
    /// Up to `limit` audit entries of `org` after the entry `after`, oldest first.
    pub fn audit_of(
        &self,
        org: OrgId,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        self.journal(tables::AUDIT, org, after, limit)
    }

    /// Up to `limit` events of `org` after the event `after`, oldest first.
    pub fn events_of(
        &self,
        org: OrgId,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError> {
        self.journal(tables::EVENTS, org, after, limit)
    }

    pub fn event(&self, org: OrgId, id: EntryId) -> Result<Option<Event>, StorageError> {
        self.pair(tables::EVENTS, org.key(), id.key())
    }

    /// The id of `org`'s newest event.
    pub fn newest_event(&self, org: OrgId) -> Result<Option<u128>, StorageError> {
        Ok(self
            .pairs_newest::<Event>(tables::EVENTS, org.key(), 1)?
            .first()
            .map(|(id, _)| *id))
    }

    fn journal<T: serde::de::DeserializeOwned>(
        &self,
        table: tables::PairRecords,
        org: OrgId,
        after: Option<u128>,
        limit: usize,
    ) -> Result<Vec<T>, StorageError> {
        Ok(self
            .pairs::<T>(table, org.key(), after, limit)?
            .into_iter()
            .map(|(_, record)| record)
            .collect())
    }
}
