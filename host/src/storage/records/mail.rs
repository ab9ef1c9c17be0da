//! E-mail waiting to be sent, providers' templates (one per kind of e-mail), and the
//! invitation e-mail budget of each (organization, address).

use crate::domain::clock::Timestamp;
use crate::domain::ids::{MailId, OrgId};
use crate::domain::mail::{AddressBudget, QueuedMail, StoredTemplate};
use crate::mail::MailKind;
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    /// Queues an e-mail, or stores its new state (attempts, next try), filed under its next
    /// attempt.
    pub fn put_queued_mail(&self, mail: &QueuedMail) -> Result<(), StorageError> {
        let id = mail.id.key();
        let before = self.view().queued_mail(mail.id)?.map(|m| m.next_attempt_at);
        super::move_deadline(
            self,
            tables::MAIL_DUE,
            id,
            before,
            Some(mail.next_attempt_at),
        )?;
        self.put(tables::MAIL_QUEUE, id, mail)
    }

    /// Takes an e-mail off the queue (sent, or given up).
    pub fn delete_queued_mail(&self, id: MailId) -> Result<(), StorageError> {
        let before = self.view().queued_mail(id)?.map(|m| m.next_attempt_at);
        super::move_deadline(self, tables::MAIL_DUE, id.key(), before, None)?;
        self.delete(tables::MAIL_QUEUE, id.key())
    }

    pub fn put_mail_template(
        &self,
        owner: OrgId,
        kind: MailKind,
        template: &StoredTemplate,
    ) -> Result<(), StorageError> {
        self.put_pair(tables::MAIL_TEMPLATES, owner.key(), kind.code(), template)
    }

    pub fn delete_mail_template(&self, owner: OrgId, kind: MailKind) -> Result<(), StorageError> {
        self.delete_pair(tables::MAIL_TEMPLATES, owner.key(), kind.code())
    }

    /// `address` is [`AddressBudget::key_of`] the address.
    pub fn put_invitation_mail_budget(
        &self,
        org: OrgId,
        address: u128,
        budget: &AddressBudget,
    ) -> Result<(), StorageError> {
        self.put_pair(tables::INVITATION_MAIL_BUDGETS, org.key(), address, budget)
    }

    /// Removes `org`'s templates and invitation e-mail budgets (its deletion).
    pub fn delete_mail_records_of(&self, org: OrgId) -> Result<(), StorageError> {
        for kind in MailKind::ALL {
            self.delete_mail_template(org, kind)?;
        }
        let budgets = self.view().pairs::<AddressBudget>(
            tables::INVITATION_MAIL_BUDGETS,
            org.key(),
            None,
            usize::MAX,
        )?;
        for (address, _) in budgets {
            self.delete_pair(tables::INVITATION_MAIL_BUDGETS, org.key(), address)?;
        }
        Ok(())
    }
}

impl View<'_> {
    pub fn queued_mail(&self, id: MailId) -> Result<Option<QueuedMail>, StorageError> {
        self.record(tables::MAIL_QUEUE, id.key())
    }

    /// Up to `limit` queued e-mails whose next attempt is `now` or earlier, the longest due
    /// first, after `after` (the last of the previous page).
    pub fn mail_due(
        &self,
        now: Timestamp,
        after: Option<&QueuedMail>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StorageError> {
        let after = after.map(|mail| (super::deadline_key(mail.next_attempt_at), mail.id.key()));
        let mut due = Vec::new();
        for (_, id) in self.due(tables::MAIL_DUE, super::deadline_key(now), after, limit)? {
            if let Some(mail) = self.queued_mail(MailId::from_key(id))? {
                due.push(mail);
            }
        }
        Ok(due)
    }

    pub fn mail_template(
        &self,
        owner: OrgId,
        kind: MailKind,
    ) -> Result<Option<StoredTemplate>, StorageError> {
        self.pair(tables::MAIL_TEMPLATES, owner.key(), kind.code())
    }

    pub fn invitation_mail_budget(
        &self,
        org: OrgId,
        address: u128,
    ) -> Result<Option<AddressBudget>, StorageError> {
        self.pair(tables::INVITATION_MAIL_BUDGETS, org.key(), address)
    }
}
