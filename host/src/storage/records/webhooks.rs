//! Webhook endpoints, listed under their organization, and each endpoint's delivery log (the
//! newest attempts only).

use crate::domain::ids::{OrgId, WebhookId};
use crate::domain::webhook::{Delivery, Webhook};
use crate::storage::{StorageError, Tx, View, tables};

impl Tx<'_> {
    pub fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StorageError> {
        self.put(tables::WEBHOOKS, webhook.id.key(), webhook)?;
        self.add_child(tables::ORG_WEBHOOKS, webhook.org_id.key(), webhook.id.key())
    }

    /// Stores an endpoint's new state (its delivery position, failures, status).
    pub fn put_webhook(&self, webhook: &Webhook) -> Result<(), StorageError> {
        self.put(tables::WEBHOOKS, webhook.id.key(), webhook)
    }

    /// Removes an endpoint and its delivery log.
    pub fn delete_webhook(&self, webhook: &Webhook) -> Result<(), StorageError> {
        let id = webhook.id.key();
        for (delivery, _) in
            self.view()
                .pairs::<Delivery>(tables::WEBHOOK_DELIVERIES, id, None, usize::MAX)?
        {
            self.delete_pair(tables::WEBHOOK_DELIVERIES, id, delivery)?;
        }
        self.delete(tables::WEBHOOKS, id)?;
        self.remove_child(tables::ORG_WEBHOOKS, webhook.org_id.key(), id)
    }

    /// Records one delivery attempt, keeping the newest `keep` of the endpoint.
    pub fn log_delivery(
        &self,
        webhook: WebhookId,
        delivery: &Delivery,
        keep: usize,
    ) -> Result<(), StorageError> {
        let parent = webhook.key();
        self.put_pair(
            tables::WEBHOOK_DELIVERIES,
            parent,
            delivery.id.key(),
            delivery,
        )?;
        let view = self.view();
        let kept = view.count_pairs(tables::WEBHOOK_DELIVERIES, parent)?;
        if kept > keep {
            for (oldest, _) in
                view.pairs::<Delivery>(tables::WEBHOOK_DELIVERIES, parent, None, kept - keep)?
            {
                self.delete_pair(tables::WEBHOOK_DELIVERIES, parent, oldest)?;
            }
        }
        Ok(())
    }
}

impl View<'_> {
    pub fn webhook(&self, id: WebhookId) -> Result<Option<Webhook>, StorageError> {
        self.record(tables::WEBHOOKS, id.key())
    }

    /// The endpoints of `org`, oldest first.
    pub fn webhooks_of(&self, org: OrgId) -> Result<Vec<WebhookId>, StorageError> {
        super::ids(self, tables::ORG_WEBHOOKS, org.key(), WebhookId::from_key)
    }

    /// Up to `limit` endpoints of every organization after `after`, in id order.
    pub fn all_webhooks(
        &self,
        after: Option<WebhookId>,
        limit: usize,
    ) -> Result<Vec<Webhook>, StorageError> {
        super::all(self, tables::WEBHOOKS, after.map(WebhookId::key), limit)
    }

    /// The newest `limit` delivery attempts of an endpoint, newest first.
    pub fn deliveries(
        &self,
        webhook: WebhookId,
        limit: usize,
    ) -> Result<Vec<Delivery>, StorageError> {
        Ok(self
            .pairs_newest::<Delivery>(tables::WEBHOOK_DELIVERIES, webhook.key(), limit)?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }
}
