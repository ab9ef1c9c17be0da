//! Links and their indexes: each side's links, and the one live (pending or active) link per
//! pair of organizations, which a relational backend states as a partial unique index.

use crate::domain::clock::Timestamp;
use crate::domain::ids::{LinkId, OrgId};
use crate::domain::link::{Link, pair_key};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    /// Stores a new link, listed under both sides; a live one takes its pair's slot.
    pub fn insert_link(&self, link: &Link) -> Result<(), StorageError> {
        self.put_link(link)?;
        let id = link.id.key();
        self.add_child(tables::ORG_LINKS, link.from_org.key(), id)?;
        self.add_child(tables::ORG_LINKS, link.to_org.key(), id)
    }

    /// Stores a link's new state. A live link holds its pair's slot ([`StorageError::Duplicate`]
    /// when another live link holds it); a link that is no longer live gives the slot up.
    pub fn put_link(&self, link: &Link) -> Result<(), StorageError> {
        let id = link.id.key();
        let before = self.view().link(link.id)?.and_then(|l| l.deadline());
        super::move_deadline(self, tables::LINK_DEADLINES, id, before, link.deadline())?;
        let key = pair_key(link.from_org, link.to_org);
        let holder = self.view().unique(tables::LIVE_LINK_BY_PAIR, &key)?;
        if link.status.is_live() {
            if let Some(other) = holder.filter(|other| *other != id)
                && self
                    .view()
                    .record::<Link>(tables::LINKS, other)?
                    .is_some_and(|l| l.status.is_live())
            {
                return Err(StorageError::Duplicate(
                    "a live link already exists between these organizations".into(),
                ));
            }
            if holder != Some(id) {
                self.set_unique(tables::LIVE_LINK_BY_PAIR, &key, id)?;
            }
        } else if holder == Some(id) {
            self.remove_unique(tables::LIVE_LINK_BY_PAIR, &key)?;
        }
        self.put(tables::LINKS, id, link)
    }
}

impl View<'_> {
    /// The live (pending or active, perhaps expired but not yet swept) link between two
    /// organizations, whichever side invited.
    pub fn live_link_between(&self, a: OrgId, b: OrgId) -> Result<Option<Link>, StorageError> {
        let Some(id) = self.unique(tables::LIVE_LINK_BY_PAIR, &pair_key(a, b))? else {
            return Ok(None);
        };
        Ok(self
            .record::<Link>(tables::LINKS, id)?
            .filter(|l| l.status.is_live()))
    }

    /// Every link of `org`, either side, in any state.
    pub fn links_of(&self, org: OrgId) -> Result<Vec<u128>, StorageError> {
        self.children(tables::ORG_LINKS, org.key())
    }

    pub fn link(&self, id: LinkId) -> Result<Option<Link>, StorageError> {
        self.record(tables::LINKS, id.key())
    }

    /// Up to `limit` links after `after`, in id (creation) order.
    pub fn all_links(
        &self,
        after: Option<LinkId>,
        limit: usize,
    ) -> Result<Vec<Link>, StorageError> {
        super::all(self, tables::LINKS, after.map(LinkId::key), limit)
    }

    /// Up to `limit` links whose deadline is `now` or earlier (pending links to expire).
    pub fn links_due(&self, now: Timestamp, limit: usize) -> Result<Vec<LinkId>, StorageError> {
        Ok(self
            .due(
                tables::LINK_DEADLINES,
                super::deadline_key(now),
                None,
                limit,
            )?
            .into_iter()
            .map(|(_, id)| LinkId::from_key(id))
            .collect())
    }
}
