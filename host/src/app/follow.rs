//! Keeping a server's policies in step with the other servers on a shared store.
//!
//! On PostgreSQL several servers share one database, but each keeps its compiled policies in
//! memory (a decision never waits for the database). Every binding change (bind, rollback,
//! unbind, an organization's deletion) raises the stored policy generation in the same
//! transaction, so a server notices another's change by polling that one row, and then applies
//! what changed ([`App::sync_bindings`]). Polling works on every PostgreSQL-compatible engine
//! (CockroachDB and YugabyteDB have no LISTEN/NOTIFY); at [`FOLLOW_INTERVAL`] a binding made
//! through one server decides on the others well within a second, for one indexed read. Where
//! the engine has LISTEN/NOTIFY, the commit that raised the generation also wakes the follower
//! at once ([`crate::storage::postgres::listen`]); polling stays the guarantee.

use std::time::Duration;

use super::App;

/// How often a server on a shared store looks at the policy generation.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// After a notice, how long a follower waits for the rest of its burst: a tenant rebinding as
/// fast as its quota allows costs each server at most one sync per this span.
const NOTICE_GATHER: Duration = Duration::from_millis(20);

impl App {
    /// Runs until aborted: applies other servers' binding changes.
    pub(super) async fn follow_bindings(self) {
        let mut seen = self.policy_generation().unwrap_or(0);
        let notice = self.store.policy_changes();
        loop {
            match &notice {
                Some(notice) => {
                    tokio::select! {
                        () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                        // Notices of one burst of binding changes are followed together.
                        () = notice.notified() => tokio::time::sleep(NOTICE_GATHER).await,
                    }
                }
                None => tokio::time::sleep(FOLLOW_INTERVAL).await,
            }
            let app = self.clone();
            let followed = tokio::task::spawn_blocking(move || {
                let now = app.policy_generation()?;
                if now != seen {
                    let applied = app.sync_bindings()?;
                    tracing::debug!(generation = now, applied, "followed binding changes");
                }
                Ok::<_, crate::Error>(now)
            })
            .await;
            match followed {
                Ok(Ok(now)) => seen = now,
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot follow binding changes; retrying"),
                Err(e) => tracing::error!(error = %e, "following binding changes failed"),
            }
        }
    }
}
