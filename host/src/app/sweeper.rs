//! Writes down deadlines that passed: pending links and remote-support requests that expired,
//! grants that ran out. Reads already apply deadlines on the fly (`status_at`); the sweeper
//! makes them durable, frees the one-live-link slot, and emits the events.

use std::time::Duration;

use super::App;
use crate::domain::link::LinkStatus;
use crate::error::Result;

/// Most records one sweep transaction touches, so a sweep never holds the writer long.
const SWEEP_BATCH: usize = 1_000;

impl App {
    /// One pass; returns how many records it expired.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.clock.now();
        let (links, requests) = self.store.read(|view| {
            let mut links = Vec::new();
            let mut after = None;
            loop {
                let batch = view.all_links(after, 1024)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.id);
                links.extend(
                    batch
                        .into_iter()
                        .filter(|l| l.status == LinkStatus::Pending && l.status_at(now) != l.status)
                        .map(|l| l.id.key()),
                );
            }
            let mut requests = Vec::new();
            let mut after = None;
            loop {
                let batch = view.all_remote_support(after, 1024)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.id);
                requests.extend(
                    batch
                        .into_iter()
                        .filter(|r| r.status_at(now) != r.status)
                        .map(|r| r.id.key()),
                );
            }
            Ok((links, requests))
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

    /// Sweeps every `sweep_interval_secs` until the task is dropped.
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
        }
    }
}
