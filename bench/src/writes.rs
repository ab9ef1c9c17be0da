//! Durable writes past the fsync limit: this disk's fsync rate (4 KiB write + fsync, in the
//! server's data directory) against, in the same run, the rate of acknowledged mutations
//! (link invitations and accepts, member invitations) from 64 concurrent HTTP clients. Every
//! acknowledged mutation was fsynced before its answer: the group-commit writer makes one
//! fsync cover every transaction of its batch.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tenantry_e2e::TestServer;

const CLIENTS: usize = 64;
/// Links each client's organization opens to the next ones (≤ half the cap of 10, so that
/// incoming and outgoing links together stay within it).
const LINKS_PER_CLIENT: usize = 4;
const MEMBER_PHASE: Duration = Duration::from_secs(5);

/// fsyncs per second of a 4 KiB write + `sync_all` loop in `dir`, over `span`.
pub fn fsync_rate(dir: &std::path::Path, span: Duration) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5a_u8; 4096];
    let started = Instant::now();
    let mut count = 0_u64;
    while started.elapsed() < span {
        file.write_all(&block)?;
        file.sync_all()?;
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(rate)
}

#[derive(Default)]
struct Tally {
    acknowledged: AtomicU64,
    refused: AtomicU64,
}

impl Tally {
    fn count(&self, status: StatusCode, expected: StatusCode) {
        let counter = if status == expected {
            &self.acknowledged
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn run() -> anyhow::Result<()> {
    run_on(1).await
}

/// The measurement with the clients spread over `servers` servers (2 needs PostgreSQL: the
/// second runs beside the first on its database).
pub async fn run_on(servers: usize) -> anyhow::Result<()> {
    let server = Arc::new(
        TestServer::spawn_with(tenantry_e2e::policies_dir(), tenantry_e2e::unthrottled).await?,
    );
    let second = match servers {
        1 => None,
        _ => Some(Arc::new(server.spawn_beside().await?.ok_or_else(|| {
            anyhow::anyhow!(
                "two servers share only a PostgreSQL store: set TENANTRY_TEST_BACKEND=postgres"
            )
        })?)),
    };
    let (_, provider) = server.provider("bench-sp").await;
    let mut orgs = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        orgs.push(
            server
                .customer(&provider, &format!("bench-{i}"), true)
                .await,
        );
    }
    let orgs = Arc::new(orgs);
    let before = fsync_rate(server.data.path(), Duration::from_secs(2))?;

    let stats = server.app().store.write_stats();
    let (transactions, batches) = (
        stats.transactions.load(Ordering::Relaxed),
        stats.batches.load(Ordering::Relaxed),
    );
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        // Odd clients talk to the second server, when there is one.
        let server = match (&second, i % 2) {
            (Some(second), 1) => Arc::clone(second),
            _ => Arc::clone(&server),
        };
        let (orgs, tally) = (Arc::clone(&orgs), Arc::clone(&tally));
        clients.push(tokio::spawn(async move {
            let (org, token) = &orgs[i];
            for k in 1..=LINKS_PER_CLIENT {
                let (peer, peer_token) = &orgs[(i + k) % CLIENTS];
                let invited = server
                    .post(
                        &format!("/v1/orgs/{org}/links"),
                        token,
                        json!({"target_org_id": peer}),
                    )
                    .await;
                tally.count(invited.status, StatusCode::CREATED);
                let accepted = server
                    .post_empty(
                        &format!("/v1/orgs/{peer}/links/{}/accept", invited.id()),
                        peer_token,
                    )
                    .await;
                tally.count(accepted.status, StatusCode::OK);
            }
            let mut n = 0;
            while started.elapsed() < MEMBER_PHASE {
                n += 1;
                let email = format!("m{n}@client{i}.example");
                let invited = server
                    .post(
                        &format!("/v1/orgs/{org}/members"),
                        token,
                        json!({"name": format!("Member {n}"), "email": email, "role": "member"}),
                    )
                    .await;
                tally.count(invited.status, StatusCode::CREATED);
            }
        }));
    }
    for client in clients {
        client.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let transactions = stats.transactions.load(Ordering::Relaxed) - transactions;
    let batches = stats.batches.load(Ordering::Relaxed) - batches;
    let after = fsync_rate(server.data.path(), Duration::from_secs(2))?;

    let acknowledged = tally.acknowledged.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let fsyncs = (before + after) / 2.0;
    let writes = acknowledged as f64 / elapsed;
    println!("fsync (4 KiB write + fsync): {before:.0}/s before, {after:.0}/s after");
    println!(
        "durable mutations, {CLIENTS} clients over HTTP to {servers} server(s): {acknowledged} acknowledged ({refused} refused) in {elapsed:.2} s = {writes:.0}/s"
    );
    println!(
        "group commit: {:.1}x the fsync rate; {transactions} write transactions in {batches} durable batches ({:.1} per fsync)",
        writes / fsyncs,
        transactions as f64 / batches.max(1) as f64
    );
    anyhow::ensure!(refused == 0, "{refused} mutations were refused");
    Ok(())
}
