//! HTTP overhead and hot reload under load, with wrk (2 threads, 64 connections) against the
//! real server: an authorized `GET /v1/orgs/{id}` against `/healthz` in the same run, then
//! the same read while the platform `authorize` policy file is rewritten 100 times.

use std::process::Command;
use std::time::{Duration, Instant};

use tenantry::policy::Hook;
use tenantry::policy::version::BindingKey;
use tenantry_e2e::TestServer;

use crate::reload::revised;
use crate::stats::report;

const SWAPS: u32 = 100;

/// What wrk reported for one run.
#[derive(Debug, Clone, Copy)]
struct Load {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    requests: u64,
    /// Non-2xx answers plus socket errors.
    failed: u64,
}

fn duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

fn parse(output: &str) -> anyhow::Result<Load> {
    let mut load = Load {
        requests_per_second: 0.0,
        p50: Duration::ZERO,
        p99: Duration::ZERO,
        requests: 0,
        failed: 0,
    };
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => load.p50 = duration(value).unwrap_or_default(),
            ["99%", value] => load.p99 = duration(value).unwrap_or_default(),
            ["Requests/sec:", value] => load.requests_per_second = value.parse()?,
            [count, "requests", "in", ..] => load.requests = count.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", count] => load.failed += count.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                load.failed += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    anyhow::ensure!(load.requests > 0, "wrk printed no result:\n{output}");
    Ok(load)
}

/// Runs wrk for `seconds` against `url` with `token`.
async fn wrk(url: String, token: Option<String>, seconds: u32) -> anyhow::Result<Load> {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new("wrk");
        command.args(["-t2", "-c64", "--latency", &format!("-d{seconds}s")]);
        if let Some(token) = token {
            command.args(["-H", &format!("authorization: Bearer {token}")]);
        }
        let output = command.arg(url).output().map_err(|e| {
            anyhow::anyhow!("cannot run wrk ({e}); `bench/run` installs it (apt-get install wrk)")
        })?;
        anyhow::ensure!(output.status.success(), "wrk failed: {output:?}");
        parse(&String::from_utf8_lossy(&output.stdout))
    })
    .await?
}

fn print(name: &str, load: &Load) {
    println!(
        "{name:<52} {:>9.0} req/s p50={:>9.2?} p99={:>9.2?} requests={} failed={}",
        load.requests_per_second, load.p50, load.p99, load.requests, load.failed
    );
}

pub async fn run() -> anyhow::Result<()> {
    let (server, policies) = TestServer::spawn_with_own_policies(tenantry_e2e::unthrottled).await?;
    let (_, provider) = server.provider("bench-sp").await;
    let (org, token) = server.customer(&provider, "bench-read", true).await;
    let read = format!("{}/v1/orgs/{org}", server.base);
    let health = format!("{}/healthz", server.base);

    let healthz = wrk(health.clone(), None, 10).await?;
    print("wrk /healthz", &healthz);
    let reads = wrk(read.clone(), Some(token.clone()), 10).await?;
    print("wrk GET /v1/orgs/{id} (authorized)", &reads);
    println!(
        "authorized read / healthz: {:.0}%",
        100.0 * reads.requests_per_second / healthz.requests_per_second
    );

    // Hot reload under load: the same read while the policy file changes SWAPS times.
    let file = policies.path().join("authorize.rhai");
    let original = std::fs::read_to_string(&file)?;
    let key = BindingKey::platform(Hook::Authorize);
    let load = tokio::spawn(wrk(read, Some(token), 25));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut visible = Vec::new();
    for revision in 1..=SWAPS {
        let started = Instant::now();
        std::fs::write(&file, revised(&original, revision))?;
        loop {
            let active = server.app().policies.snapshot().get(&key).map(|p| p.number);
            if active == Some(revision + 1) {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "revision {revision} was not picked up"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        visible.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let swapping = load.await??;
    print("wrk GET /v1/orgs/{id} during 100 policy swaps", &swapping);
    report("swap: file write -> active, under load", visible);
    println!(
        "p99 during swaps / without: {:.2}x; failed requests during swaps: {}",
        swapping.p99.as_secs_f64() / reads.p99.as_secs_f64(),
        swapping.failed
    );
    Ok(())
}
