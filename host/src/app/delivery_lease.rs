//! On a shared store, one server at a time delivers e-mail and webhooks.
//!
//! Each delivery task reads what is due and then sends it, which on one server is safe (it
//! is the only sender) but on several would send the same e-mail twice and break the per-endpoint
//! order of webhooks. So on PostgreSQL the servers hold a lease in the database: every
//! [`RENEW`] each server tries to take or extend it (a write, so the servers' attempts are
//! ordered), and only the holder delivers. A holder that dies or loses the database stops
//! renewing, and another server takes over once the lease has run out ([`LEASE`]). The holder
//! counts its lease from when it *asked*, less a margin, on its own monotonic clock, so a slow
//! renewal never lets it deliver past the end the others see. The sweeper and the pruning tasks
//! run on every server: their writes re-check what they change, so doing them twice does nothing
//! twice.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::App;
use crate::domain::clock::Timestamp;

/// How long a taken lease lasts.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often the lease is taken or renewed.
pub const RENEW: Duration = Duration::from_secs(5);
/// Stop delivering this much before the lease ends, for clocks a little apart.
const MARGIN: Duration = Duration::from_secs(3);
const KEY: &str = "delivery_lease";

/// This server's standing: its id, and until when (on its own clock) it may deliver.
pub struct DeliveryLease {
    server: u128,
    until: Mutex<Option<Instant>>,
}

impl Default for DeliveryLease {
    fn default() -> Self {
        Self {
            server: uuid::Uuid::now_v7().as_u128(),
            until: Mutex::new(None),
        }
    }
}

impl DeliveryLease {
    fn holds(&self) -> bool {
        self.until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    fn set(&self, until: Option<Instant>) {
        *self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }
}

fn encode(holder: u128, until: Timestamp) -> Vec<u8> {
    let mut bytes = holder.to_le_bytes().to_vec();
    bytes.extend_from_slice(&until.0.to_le_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Option<(u128, Timestamp)> {
    let holder = u128::from_le_bytes(bytes.get(..16)?.try_into().ok()?);
    let until = i64::from_le_bytes(bytes.get(16..24)?.try_into().ok()?);
    Some((holder, Timestamp(until)))
}

impl App {
    /// Whether this server sends e-mail and webhooks now: always on the embedded file, and
    /// while it holds the lease on a shared store.
    pub fn delivers(&self) -> bool {
        !self.store.is_shared() || self.delivery_lease.holds()
    }

    /// Runs until aborted: takes and renews the delivery lease (shared stores only).
    pub(super) async fn hold_delivery_lease(self) {
        let mut tick = tokio::time::interval(RENEW);
        loop {
            tick.tick().await;
            let asked = Instant::now();
            let me = self.delivery_lease.server;
            let now = self.clock.now();
            let until = now.plus(LEASE);
            let taken = self
                .store
                .write(move |tx| {
                    let free = tx
                        .view()
                        .meta(KEY)?
                        .as_deref()
                        .and_then(decode)
                        .is_none_or(|(holder, until)| holder == me || until <= now);
                    if free {
                        tx.put_meta(KEY, &encode(me, until))?;
                    }
                    Ok(free)
                })
                .await;
            match taken {
                Ok(true) => self.delivery_lease.set(Some(asked + LEASE - MARGIN)),
                Ok(false) => self.delivery_lease.set(None),
                Err(e) => {
                    // Keep what is left of the lease already held; it runs out on its own.
                    tracing::warn!(error = %e, "cannot renew the delivery lease");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_reads_back_as_written() {
        let holder = uuid::Uuid::now_v7().as_u128();
        assert_eq!(
            decode(&encode(holder, Timestamp(1_234))),
            Some((holder, Timestamp(1_234)))
        );
        assert_eq!(decode(&[1, 2, 3]), None);
    }
}
