//! What was acknowledged, and whether a backup of the restarted server still holds it.

use std::path::Path;

use tenantry::app::invariants;
use tenantry::app::quotas::Quotas;
use tenantry::cli::backup::{BackupArgs, download, partial_path};
use tenantry::domain::ids::{LinkId, OrgId, PolicyVersionId, ResourceId, ShareId, UserId};
use tenantry::domain::link::LinkStatus;
use tenantry::domain::resource::ResourceKind;
use tenantry::policy::version::BindingKey;
use tenantry::policy::{Hook, Layer};
use tenantry::storage::{Snapshot, View};

use crate::server::Server;

/// One write the server answered with a success: it must survive any crash after that.
/// Checked through the store's record functions, so the check holds on any backend.
#[derive(Clone, Copy)]
pub enum Ack {
    Org(OrgId),
    Membership(OrgId, UserId),
    /// A link exists (pending or later).
    Link(LinkId),
    /// An accepted link is active (the workload never ends links).
    LinkActive(LinkId),
    Team(ResourceId),
    Share(ShareId),
    /// A version of the organization's own `authorize` layer, with its number there.
    PolicyVersion(OrgId, PolicyVersionId, u32),
}

impl std::fmt::Display for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Org(id) => write!(f, "organization {id}"),
            Self::Membership(org, user) => write!(f, "membership {org} / {user}"),
            Self::Link(id) => write!(f, "link {id}"),
            Self::LinkActive(id) => write!(f, "active link {id}"),
            Self::Team(id) => write!(f, "team {id}"),
            Self::Share(id) => write!(f, "share {id}"),
            Self::PolicyVersion(_, id, number) => write!(f, "policy version {id} (v{number})"),
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
        .read(|view| lost_and_broken(view, acked))
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

/// On PostgreSQL: looks for every acknowledged write in the database itself, while servers
/// run on it (there is no file to copy; `pg_dump` is the backup).
pub async fn check_database(url: &str, acked: &Acked, server: &Server) -> anyhow::Result<Checked> {
    let store = tenantry::storage::Store::connect(url, 2)?;
    let (lost, violations) = store
        .read(|view| lost_and_broken(view, acked))
        .map_err(|e| anyhow::anyhow!("reading the database: {e}"))?;
    Ok(Checked {
        expected: acked.len(),
        leaked: 0,
        present: acked.len() - lost.len(),
        lost,
        violations,
        startup_ms: server.startup.as_millis(),
    })
}

/// Every acknowledged write missing from `view`, and every invariant it breaks.
fn lost_and_broken(
    view: &View<'_>,
    acked: &Acked,
) -> Result<(Vec<String>, Vec<String>), tenantry::Error> {
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
}

fn present(view: &View<'_>, ack: Ack) -> Result<bool, tenantry::Error> {
    Ok(match ack {
        Ack::Org(id) => view.org(id)?.is_some(),
        Ack::Membership(org, user) => view.membership(org, user)?.is_some(),
        Ack::Link(id) => view.link(id)?.is_some(),
        Ack::LinkActive(id) => view
            .link(id)?
            .is_some_and(|l| l.status == LinkStatus::Active),
        Ack::Team(id) => view.resource(ResourceKind::Team, id)?.is_some(),
        Ack::Share(id) => view.share(id)?.is_some(),
        Ack::PolicyVersion(org, id, number) => {
            view.policy_version(id)?.is_some() || retired_by_newer_versions(view, org, number)?
        }
    })
}

/// A binding keeps its newest `versions_per_binding` versions; older ones are deleted by
/// design when a new one is bound, so an acknowledged version that many numbers behind the
/// active one is gone, not lost.
fn retired_by_newer_versions(
    view: &View<'_>,
    org: OrgId,
    number: u32,
) -> Result<bool, tenantry::Error> {
    let key = BindingKey {
        layer: Layer::Organization,
        owner: Some(org),
        hook: Hook::Authorize,
    };
    let kept = Quotas::default().versions_per_binding;
    Ok(view
        .binding(&key)?
        .is_some_and(|active| active.number as usize >= number as usize + kept))
}
