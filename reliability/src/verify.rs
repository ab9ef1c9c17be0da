//! What was acknowledged, and whether a backup of the restarted server still holds it.

use std::path::Path;

use tenantry::app::invariants;
use tenantry::cli::backup::{BackupArgs, download, partial_path};
use tenantry::domain::link::{Link, LinkStatus};
use tenantry::storage::tables::{self, PairRecords, Records};
use tenantry::storage::{Snapshot, View};

use crate::server::Server;

/// One write the server answered with a success: it must survive any crash after that.
#[derive(Clone, Copy)]
pub enum Ack {
    /// A record exists.
    Record(Records, u128),
    /// A record under a parent exists (a membership).
    Pair(PairRecords, u128, u128),
    /// An accepted link is active (the workload never ends links).
    LinkActive(u128),
}

impl std::fmt::Display for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use redb::TableHandle;
        let id = |key: u128| uuid::Uuid::from_u128(key);
        match self {
            Self::Record(table, key) => write!(f, "{} {}", table.name(), id(*key)),
            Self::Pair(table, parent, key) => {
                write!(f, "{} {} / {}", table.name(), id(*parent), id(*key))
            }
            Self::LinkActive(key) => write!(f, "active link {}", id(*key)),
        }
    }
}

#[derive(Default)]
pub struct Acked(Vec<Ack>);

impl Acked {
    pub fn extend(&mut self, more: Vec<Ack>) {
        self.0.extend(more);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

pub struct Checked {
    pub expected: usize,
    /// Tokens found in the copy (only their hashes may be stored).
    pub leaked: usize,
    pub present: usize,
    pub lost: Vec<String>,
    pub violations: Vec<String>,
    pub startup_ms: u128,
}

#[derive(Debug, Default)]
pub struct Totals {
    pub requests: usize,
    pub interrupted: usize,
    pub server_errors: usize,
    pub lost: usize,
    pub violations: usize,
    pub leaked: usize,
    pub slowest_start_ms: u128,
}

impl Totals {
    pub fn add(&mut self, checked: &Checked) {
        self.lost += checked.lost.len();
        self.violations += checked.violations.len();
        self.leaked += checked.leaked;
        self.slowest_start_ms = self.slowest_start_ms.max(checked.startup_ms);
    }
}

/// Takes an online backup of `server` (verified by `tenantry backup` itself) and looks for
/// every acknowledged write in it.
pub async fn check_backup(
    server: &Server,
    acked: &Acked,
    data: &Path,
    round: u32,
) -> anyhow::Result<Checked> {
    let file = data.join(format!("backup-{round}.redb"));
    let args = BackupArgs {
        path: &file,
        server: &server.base,
        token: tenantry_e2e::OPERATOR_TOKEN,
    };
    let (report, _) = download(&args).await?;
    let copy = if report.is_sound() {
        file.clone()
    } else {
        partial_path(&file)
    };
    let snapshot = Snapshot::open(&copy)?;
    let (lost, violations) = snapshot
        .read(|view| {
            let lost = acked
                .0
                .iter()
                .filter_map(|ack| match present(view, *ack) {
                    Ok(true) => None,
                    Ok(false) => Some(Ok(format!("LOST {ack}"))),
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let report = invariants::check(view, tenantry::domain::clock::Clock::default().now())?;
            Ok((lost, report.violations))
        })
        .map_err(|e| anyhow::anyhow!("reading the backup: {e}"))?;
    drop(snapshot);
    let leaked = crate::secrets::count_tokens(&std::fs::read(&copy)?);
    std::fs::remove_file(&copy)?;
    Ok(Checked {
        expected: acked.len(),
        leaked,
        present: acked.len() - lost.len(),
        lost,
        violations,
        startup_ms: server.startup.as_millis(),
    })
}

fn present(view: &View<'_>, ack: Ack) -> Result<bool, tenantry::Error> {
    Ok(match ack {
        Ack::Record(table, id) => view.record::<serde_json::Value>(table, id)?.is_some(),
        Ack::Pair(table, parent, id) => {
            view.pair::<serde_json::Value>(table, parent, id)?.is_some()
        }
        Ack::LinkActive(id) => view
            .record::<Link>(tables::LINKS, id)?
            .is_some_and(|l| l.status == LinkStatus::Active),
    })
}
