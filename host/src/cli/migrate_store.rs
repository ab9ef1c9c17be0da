//! `tenantry migrate-store --from A --to B`: copies a stopped deployment's data between the
//! embedded file and PostgreSQL (either way), then checks the invariants on the copy.

use std::path::Path;

use crate::app::invariants;
use crate::domain::clock::Clock;
use crate::storage::{StorageError, Store, postgres, transfer};

/// A `postgres://` (or `postgresql://`) URL, else the path of a database file. A file that a
/// process is still letting go of (a server that just stopped) is waited for, a few seconds.
/// A `source` file is read as found ([`Store::open_as_found`]): a backup given as the source
/// keeps its decisions instead of having them moved to a log file beside it.
async fn open(place: &str, source: bool) -> anyhow::Result<Store> {
    if place.starts_with("postgres://") || place.starts_with("postgresql://") {
        return Store::connect(place, 4).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let mut attempts = 0;
    loop {
        let opened = if source {
            Store::open_as_found(Path::new(place), 64 << 20)
        } else {
            Store::open(Path::new(place), 64 << 20)
        };
        match opened {
            Ok(store) => return Ok(store),
            Err(StorageError::Redb(redb::Error::DatabaseAlreadyOpen)) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => {
                anyhow::bail!("cannot open `{place}` (stop the server that holds it first): {e}")
            }
        }
    }
}

/// Copies `from` into the empty `to` and checks it: exit code 1 when an invariant is broken.
pub async fn run(from: &str, to: &str) -> anyhow::Result<i32> {
    let shown = |place: &str| {
        if place.contains("://") {
            postgres::redacted(place)
        } else {
            place.to_owned()
        }
    };
    let source = open(from, true).await?;
    let target = open(to, false).await?;
    let copied = transfer::copy(&source, &target)
        .await
        .map_err(|e| anyhow::anyhow!("copying {} to {}: {e}", shown(from), shown(to)))?;
    for (table, n) in &copied {
        println!("{table:>24}  {n} copied");
    }
    let now = Clock::default().now();
    let report = invariants::check_store(&target, now)
        .map_err(|e| anyhow::anyhow!("checking {}: {e}", shown(to)))?;
    super::backup::print_report(&report);
    println!("copied {} to {}", shown(from), shown(to));
    Ok(i32::from(!report.is_sound()))
}
