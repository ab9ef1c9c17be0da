//! Writes down deadlines that passed: pending links and remote-support requests that expired,
//! grants that ran out. Reads already apply deadlines on the fly (`status_at`); the sweeper
//! makes them durable, frees the one-live-link slot, and emits the events.

use std::time::Duration;

use super::App;
use crate::error::Result;

/// Most records one sweep transaction touches, so a sweep never holds the writer long.
const SWEEP_BATCH: usize = 1_000;
/// Most records of each kind one pass expires.
const SWEEP_PASS: usize = 50_000;

impl App {
    /// One pass; returns how many records it expired.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.clock.now();
        // What is due comes from the deadline indexes, so a pass costs what expires, not
        // every link and request; what is left beyond one pass's share waits for the next.
        let (links, requests) = self.store.read(|view| {
            let links = view.links_due(now, SWEEP_PASS)?;
            let requests = view.remote_support_due(now, SWEEP_PASS)?;
            Ok((
                links.into_iter().map(|id| id.key()).collect::<Vec<_>>(),
                requests.into_iter().map(|id| id.key()).collect::<Vec<_>>(),
            ))
        })?;
        let mut expired = 0;
        for chunk in links.chunks(SWEEP_BATCH) {
            let chunk = chunk.to_vec();
            expired += self
                .store
                .write(move |tx| {
                    chunk.iter().try_fold(0, |n, id| {
                        Ok(n + usize::from(super::links::expire_if_due(tx, *id, now)?))
                    })
                })
                .await?;
        }
        for chunk in requests.chunks(SWEEP_BATCH) {
            let chunk = chunk.to_vec();
            expired += self
                .store
                .write(move |tx| {
                    chunk.iter().try_fold(0, |n, id| {
                        Ok(n + usize::from(super::remote_support::expire_if_due(tx, *id, now)?))
                    })
                })
                .await?;
        }
        Ok(expired)
    }

    /// Sweeps every `sweep_interval_secs` until the task is dropped, and lets go of plugins
    /// collected since the last pass.
    pub async fn run_sweeper(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(
            self.settings.sweep_interval_secs.max(1),
        ));
        loop {
            tick.tick().await;
            match self.sweep().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(expired = n, "sweeper wrote down expired links and requests")
                }
                Err(e) => tracing::error!(error = %e, "sweep failed"),
            }
            if let Err(e) = self.forget_collected_plugins() {
                tracing::error!(error = %e, "cannot let go of collected plugins");
            }
        }
    }
}
