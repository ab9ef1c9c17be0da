//! Webhooks, the parts that know nothing of the store: the Standard Webhooks signature, and
//! where a webhook may point. Endpoints and deliveries are use cases (`app/webhooks.rs`,
//! `app/webhook_delivery.rs`).

pub mod destination;
pub mod signature;

use serde::{Deserialize, Serialize};

/// `[webhooks]`: where deliveries may go and how they are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Deliver to loopback and private addresses too (a receiver on the server's own network;
    /// the tests). Off: such endpoints are refused when created and when connected to.
    pub allow_private_addresses: bool,
    /// Deliver over plain `http` too. Off: endpoints must be `https`.
    pub allow_http: bool,
    /// Seconds one delivery attempt may take, connection included.
    pub timeout_secs: u64,
    /// Endpoints delivered to at once.
    pub concurrency: usize,
    /// Milliseconds between looks for events to deliver.
    pub poll_interval_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            allow_http: false,
            timeout_secs: 10,
            concurrency: 16,
            poll_interval_ms: 500,
        }
    }
}

impl WebhookSettings {
    pub fn allowed(&self) -> destination::Allowed {
        destination::Allowed {
            private_addresses: self.allow_private_addresses,
            http: self.allow_http,
        }
    }
}
