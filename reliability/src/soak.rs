//! `soak`: sustained load against a server whose decision log and outbox reach their bounds,
//! sampling the database file and redb's own accounting of it. Once both bounds are reached
//! their record counts must stay there. The audit log has no retention (DESIGN.md: audit entries stay), so under writes
//! the stored bytes keep growing by one audit entry per write; the harness reports that
//! growth next to the audit entries added, so the two can be compared. With `--reads-only`
//! the load adds decisions only, and the file itself must stop growing.
//!
//! Unlike the other harnesses this one runs the server in its own process (real HTTP on a real
//! port, a real redb file): it must move the server's clock, so that the outbox's retention,
//! set in hours, passes in minutes. Each tick advances the clock by an hour and runs the outbox
//! pruning that the server's 10-minute timer runs; the decision log's pruner runs on its own
//! timer, as in production.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tenantry::Settings;
use tenantry::storage::tables;
use tenantry_e2e::{TestServer, policies_dir, unthrottled};

/// Decisions the log keeps (the production default is 1,000,000; smaller here so the bound is
/// reached within the run).
const DECISIONS_KEPT: u64 = 20_000;
/// Hours of outbox kept (the default is 720).
const EVENT_HOURS: u64 = 24;
const TICK: Duration = Duration::from_secs(5);
const CLIENTS: usize = 8;

fn bounded(settings: &mut Settings) {
    unthrottled(settings);
    settings.decision_log_max_entries = DECISIONS_KEPT;
    settings.event_retention_hours = EVENT_HOURS;
}

struct Sample {
    elapsed: Duration,
    file_bytes: u64,
    /// Pages in use (live data, metadata and pages freed but not yet reusable).
    allocated_bytes: u64,
    /// Keys and values.
    stored_bytes: u64,
    decisions: u64,
    events: u64,
    audit: u64,
}

pub async fn run(minutes: u64, reads_only: bool) -> anyhow::Result<()> {
    let s = TestServer::spawn_with(policies_dir(), bounded).await?;
    let (org, token) = s.provider("soak").await;
    println!(
        "soak: {minutes} min, {CLIENTS} clients{}; decision log bound {DECISIONS_KEPT} entries, outbox retention {EVENT_HOURS} h (the clock moves 1 h every {} s)",
        if reads_only { ", reads only" } else { "" },
        TICK.as_secs()
    );
    let started = Instant::now();
    let until = started + Duration::from_secs(minutes * 60);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client(
                s.base.clone(),
                org.clone(),
                token.clone(),
                until,
                reads_only,
            ))
        })
        .collect();

    // The domain file and the decision log's file beside it, measured together.
    let file = s.data.path().join("tenantry.redb");
    let log_file = tenantry::storage::decision_log::path_beside(&file);
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.tick().await;
    while Instant::now() < until {
        tick.tick().await;
        s.clock().advance(Duration::from_secs(3600));
        s.app().prune_events_once().await?;
        let store = &s.app().store;
        let (events, audit) =
            store.read(|v| Ok((v.count(tables::EVENTS)?, v.count(tables::AUDIT)?)))?;
        let decisions = store
            .decision_log()
            .read(|v| Ok(v.count(tables::DECISION_ORDER)?))?;
        let mut allocated_bytes = 0;
        let mut stored_bytes = 0;
        for store in [store, store.decision_log()] {
            let space = store.write(|tx| Ok(tx.space()?)).await?;
            allocated_bytes += space.allocated_pages() * space.page_size() as u64;
            stored_bytes += space.stored_bytes();
        }
        let sample = Sample {
            elapsed: started.elapsed(),
            file_bytes: std::fs::metadata(&file)?.len() + std::fs::metadata(&log_file)?.len(),
            allocated_bytes,
            stored_bytes,
            decisions,
            events,
            audit,
        };
        if samples.len() % 6 == 5 {
            print_sample(&sample);
        }
        samples.push(sample);
    }
    let mut requests = 0;
    let mut failures = 0;
    for client in clients {
        let (r, f) = client.await??;
        requests += r;
        failures += f;
    }
    summarize(&samples, requests, failures, reads_only)
}

fn print_sample(sample: &Sample) {
    println!(
        "  {:>4} s: file {:>6.1} MiB, allocated {:>6.1} MiB, stored {:>6.1} MiB; {:>6} decisions, {:>6} events, {:>7} audit entries",
        sample.elapsed.as_secs(),
        mib(sample.file_bytes),
        mib(sample.allocated_bytes),
        mib(sample.stored_bytes),
        sample.decisions,
        sample.events,
        sample.audit
    );
}

/// Reads the organization three times, then creates a team and deletes it: every request
/// adds a decision, every write an event, and the domain's own records stay the same size.
async fn client(
    base: String,
    org: String,
    token: String,
    until: Instant,
    reads_only: bool,
) -> anyhow::Result<(u64, u64)> {
    let http = reqwest::Client::new();
    let (mut requests, mut failures) = (0_u64, 0_u64);
    let mut count = |status: StatusCode| {
        requests += 1;
        if !status.is_success() {
            failures += 1;
        }
    };
    while Instant::now() < until {
        for _ in 0..3 {
            let r = http
                .get(format!("{base}/v1/orgs/{org}"))
                .bearer_auth(&token)
                .send()
                .await?;
            count(r.status());
        }
        if reads_only {
            continue;
        }
        let team = http
            .post(format!("{base}/v1/orgs/{org}/teams"))
            .bearer_auth(&token)
            .json(&json!({"name": "Night shift"}))
            .send()
            .await?;
        count(team.status());
        let id = team.json::<serde_json::Value>().await?["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let r = http
            .delete(format!("{base}/v1/orgs/{org}/teams/{id}"))
            .bearer_auth(&token)
            .send()
            .await?;
        count(r.status());
    }
    Ok((requests, failures))
}

/// Over the last third of the run, by which time both bounds hold: the decision log stays at
/// its bound and the outbox within its window; what the stored
/// bytes still gain is set against the audit entries added meanwhile.
fn summarize(
    samples: &[Sample],
    requests: u64,
    failures: u64,
    reads_only: bool,
) -> anyhow::Result<()> {
    let (Some(last), true) = (samples.last(), samples.len() >= 3) else {
        anyhow::bail!("the run was too short to sample");
    };
    let third = &samples[samples.len() * 2 / 3..];
    let first = &third[0];
    let events_range = (
        third.iter().map(|s| s.events).min().unwrap_or(0),
        third.iter().map(|s| s.events).max().unwrap_or(0),
    );
    let most_decisions = third.iter().map(|s| s.decisions).max().unwrap_or(0);
    let audit_added = last.audit - first.audit;
    let stored_added = last.stored_bytes.saturating_sub(first.stored_bytes);
    println!(
        "total: {requests} requests, {failures} failed; decisions at most {} over the whole run, {} not logged (recorder queue full)",
        samples.iter().map(|s| s.decisions).max().unwrap_or(0),
        tenantry::metrics::decisions_dropped()
    );
    println!(
        "last third ({} s to {} s): decisions at most {most_decisions} (bound {DECISIONS_KEPT}); events {}..{}; audit entries +{audit_added}",
        first.elapsed.as_secs(),
        last.elapsed.as_secs(),
        events_range.0,
        events_range.1,
    );
    println!(
        "  stored {:.1} -> {:.1} MiB (+{:.1} MiB, {} bytes per audit entry added), allocated {:.1} -> {:.1} MiB, file {:.1} -> {:.1} MiB",
        mib(first.stored_bytes),
        mib(last.stored_bytes),
        mib(stored_added),
        stored_added.checked_div(audit_added).unwrap_or(0),
        mib(first.allocated_bytes),
        mib(last.allocated_bytes),
        mib(first.file_bytes),
        mib(last.file_bytes),
    );
    // The recorder trims the log in the transaction that adds to it: the bound holds exactly.
    let decisions_bounded = most_decisions <= DECISIONS_KEPT;
    let events_flat = events_range.1 <= events_range.0 + events_range.0 / 5;
    if failures > 0 || !decisions_bounded || !events_flat {
        anyhow::bail!("the decision log or the outbox did not stay within its bound");
    }
    if reads_only && last.file_bytes > first.file_bytes {
        anyhow::bail!("the file grew under reads only, with the decision log at its bound");
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
