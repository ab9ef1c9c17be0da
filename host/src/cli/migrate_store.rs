//! `tenantry migrate-store --from A --to B`: copies a stopped deployment's data between the
//! embedded file and PostgreSQL (either way), then checks the invariants on the copy.

use std::path::Path;

use crate::app::invariants;
use crate::domain::clock::Clock;
use crate::storage::{StorageError, Store, postgres, transfer};

/// A `postgres://` (or `postgresql://`) URL, else the path of a database file. A file that a
/// process is still letting go of (a server that just stopped) is waited for, a few seconds.
async fn open(place: &str) -> anyhow::Result<Store> {
    if place.starts_with("postgres://") || place.starts_with("postgresql://") {
        return Store::connect(place, 4).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let mut attempts = 0;
    loop {
        match Store::open(Path::new(place), 64 << 20) {
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
    let source = open(from).await?;
    let target = open(to).await?;
    let copied = transfer::copy(&source, &target)
        .await
        .map_err(|e| anyhow::anyhow!("copying {} to {}: {e}", shown(from), shown(to)))?;
    for (table, n) in &copied {
        println!("{table:>24}  {n} copied");
    }
    let now = Clock::default().now();
    let checking = |e| anyhow::anyhow!("checking {}: {e}", shown(to));
    let mut report = target
        .read(|view| invariants::check(view, now))
        .map_err(checking)?;
    // The decision log may be in a file of its own, which the check's view does not see.
    report.counts = target
        .record_counts()
        .map_err(checking)?
        .into_iter()
        .map(|(table, n)| (table.to_owned(), n))
        .collect();
    super::backup::print_report(&report);
    println!("copied {} to {}", shown(from), shown(to));
    Ok(i32::from(!report.is_sound()))
}
