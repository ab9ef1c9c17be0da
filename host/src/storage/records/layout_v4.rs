//! The upgrade to layout 4: the deadline indexes of pending links, of remote-support requests
//! and grants, and of queued e-mail, filled from the records in the migration's own
//! transaction.

use serde::Deserialize;

use crate::domain::clock::Timestamp;
use crate::domain::link::LinkStatus;
use crate::domain::remote_support::SupportStatus;
use crate::storage::{StorageError, Tx, tables};

/// The fields of a link its deadline comes from, read from any earlier layout.
#[derive(Deserialize)]
struct LinkFields {
    status: Option<LinkStatus>,
    expires_at: Option<Timestamp>,
}

/// The field of a queued e-mail its next attempt comes from.
#[derive(Deserialize)]
struct MailFields {
    next_attempt_at: Option<Timestamp>,
}

/// The fields of a remote-support request its deadline comes from.
#[derive(Deserialize)]
struct RequestFields {
    status: Option<SupportStatus>,
    decide_by: Option<Timestamp>,
    ends_at: Option<Timestamp>,
}

/// Records read per page while upgrading.
const PAGE: usize = 1_000;

impl Tx<'_> {
    /// Files every link and request that has a deadline under it; returns how many.
    pub fn index_deadlines(&self) -> Result<usize, StorageError> {
        let view = self.view();
        let mut filed = 0;
        let mut after = None;
        loop {
            let page: Vec<(u128, LinkFields)> = view.scan(tables::LINKS, after, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (id, link) in page {
                let deadline = link
                    .expires_at
                    .filter(|_| link.status == Some(LinkStatus::Pending));
                if let Some(at) = deadline {
                    super::move_deadline(self, tables::LINK_DEADLINES, id, None, Some(at))?;
                    filed += 1;
                }
            }
        }
        let mut after = None;
        loop {
            let page: Vec<(u128, RequestFields)> =
                view.scan(tables::REMOTE_SUPPORT, after, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (id, request) in page {
                let deadline = match request.status {
                    Some(SupportStatus::Pending) => request.decide_by,
                    Some(SupportStatus::Granted) => request.ends_at,
                    _ => None,
                };
                if let Some(at) = deadline {
                    super::move_deadline(
                        self,
                        tables::REMOTE_SUPPORT_DEADLINES,
                        id,
                        None,
                        Some(at),
                    )?;
                    filed += 1;
                }
            }
        }
        let mut after = None;
        loop {
            let page: Vec<(u128, MailFields)> = view.scan(tables::MAIL_QUEUE, after, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (id, mail) in page {
                super::move_deadline(self, tables::MAIL_DUE, id, None, mail.next_attempt_at)?;
                filed += 1;
            }
        }
        Ok(filed)
    }
}
