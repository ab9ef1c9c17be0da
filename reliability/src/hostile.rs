//! Hostile policies under load: one organization binds plugins and scripts that run to their
//! limits (an endless loop, a memory bomb, deep recursion, a huge answer, a trap, and the Rhai
//! equivalents) and hammers its own routes, while clients of a neighbour organization measure
//! their latency. The baseline is the same load with the same plugin behaving, so the ratio is
//! the cost of the hostility, not of the attacker's request volume. Each hostile call must end
//! with its named error (or the quarantine that follows), the neighbour's p99 must stay within
//! 2× the baseline, memory must stay bounded, and the server must not crash.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::tenants;
use tokio::sync::Mutex;

use crate::server::Server;

const NEIGHBOURS: usize = 8;
const ATTACKERS: usize = 4;
const PHASE: Duration = Duration::from_secs(4);

/// What the attacker binds, and the error its calls must end with.
fn attacks(sha: &str) -> Vec<(String, Value, &'static str)> {
    let plugin = |mode: &str| json!({"plugin": sha, "config": mode});
    let rhai = |source: &str| json!({"source": source});
    vec![
        ("wasm loop".into(), plugin("loop"), "out_of_fuel"),
        ("wasm memory bomb".into(), plugin("memory"), "memory_limit"),
        ("wasm recursion".into(), plugin("recursion"), "trap"),
        (
            "wasm huge output".into(),
            plugin("huge-output"),
            "output_too_large",
        ),
        ("wasm trap".into(), plugin("trap"), "trap"),
        (
            "rhai loop".into(),
            rhai("fn authorize(input) { loop {} }"),
            "operation_limit",
        ),
        (
            "rhai recursion".into(),
            rhai("fn f(n) { f(n + 1) } fn authorize(input) { f(0) }"),
            "call_depth",
        ),
        (
            "rhai huge string".into(),
            rhai("fn authorize(input) { let s = \"xxxxxxxx\"; loop { s += s; } }"),
            "size_limit",
        ),
    ]
}

pub async fn run(binary: &Path) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(binary, data.path(), &data.path().join("server.log")).await?;
    let client = Client::new();
    let base = server.base.clone();
    let (attacker, attacker_owner, neighbour, neighbour_owner) = tenants(&client, &base).await?;
    let wasm = tenantry_e2e::plugins::plugin("hostile");
    let uploaded: Value = client
        .post(format!("{base}/v1/plugins"))
        .bearer_auth(&attacker_owner)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await?
        .json()
        .await?;
    let sha = uploaded["sha256"].as_str().unwrap_or_default().to_owned();

    let neighbour_url = format!("{base}/v1/orgs/{neighbour}/teams");
    let attacker_url = format!("{base}/v1/orgs/{attacker}/teams");
    bind(
        &client,
        &base,
        &attacker,
        &attacker_owner,
        "behaving",
        &json!({"plugin": sha, "config": "behave"}),
    )
    .await?;
    let benign = Attack {
        url: attacker_url.clone(),
        token: attacker_owner.clone(),
        expected: None,
    };
    let baseline = measure(&client, &neighbour_url, &neighbour_owner, Some(&benign)).await;
    let rss_before = server.rss_kib()?;
    println!(
        "behaving plugin:   neighbour p50 {:>6.2} ms, p99 {:>6.2} ms; RSS {} MiB; attacker: {}",
        baseline.p50_ms(),
        baseline.p99_ms(),
        rss_before / 1024,
        baseline
            .attack
            .as_ref()
            .map(AttackOutcome::summary)
            .unwrap_or_default()
    );
    let mut worst_ratio: f64 = 0.0;
    let mut failures = Vec::new();
    for (name, binding, kind) in attacks(&sha) {
        bind(&client, &base, &attacker, &attacker_owner, &name, &binding).await?;
        let attack = Attack {
            url: attacker_url.clone(),
            token: attacker_owner.clone(),
            expected: Some(format!("policy error in the organization layer ({kind})")),
        };
        let under = measure(&client, &neighbour_url, &neighbour_owner, Some(&attack)).await;
        let ratio = under.p99_ms() / baseline.p99_ms();
        worst_ratio = worst_ratio.max(ratio);
        let outcome = under
            .attack
            .as_ref()
            .map(AttackOutcome::summary)
            .unwrap_or_default();
        println!(
            "{name:<18} neighbour p50 {:>6.2} ms, p99 {:>6.2} ms ({ratio:.2}×); RSS {} MiB; attacker: {outcome}",
            under.p50_ms(),
            under.p99_ms(),
            server.rss_kib()? / 1024,
        );
        if let Some(outcome) = &under.attack
            && (outcome.named != outcome.calls || outcome.calls == 0)
        {
            failures.push(format!("{name}: {}", outcome.summary()));
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alive = client.get(format!("{base}/healthz")).send().await.is_ok();
    let rss_after = server.rss_kib()?;
    let peak = server.peak_kib()?;
    server.kill()?;
    println!(
        "worst neighbour p99 ratio {worst_ratio:.2}×; server RSS {} MiB before, peak {} MiB, {} MiB after; alive: {alive}",
        rss_before / 1024,
        peak / 1024,
        rss_after / 1024
    );
    if !alive || !failures.is_empty() || worst_ratio > 2.0 {
        bail!("hostile policies under load: {failures:?}, worst ratio {worst_ratio:.2}");
    }
    Ok(())
}

struct Attack {
    url: String,
    token: String,
    /// The named error every call must end with; `None`: every call must succeed.
    expected: Option<String>,
}

async fn bind(
    client: &Client,
    base: &str,
    org: &str,
    owner: &str,
    name: &str,
    binding: &Value,
) -> anyhow::Result<()> {
    let bound = client
        .put(format!("{base}/v1/orgs/{org}/policies/authorize"))
        .bearer_auth(owner)
        .json(binding)
        .send()
        .await?;
    if bound.status() != StatusCode::CREATED {
        bail!("binding {name}: {} {}", bound.status(), bound.text().await?);
    }
    Ok(())
}

#[derive(Default)]
struct AttackOutcome {
    calls: usize,
    /// Answers that were the expected named error, or the quarantine that follows it.
    named: usize,
    quarantined: usize,
    slowest: Duration,
    other: Option<String>,
}

impl AttackOutcome {
    fn summary(&self) -> String {
        format!(
            "{} calls, {} named, {} of them quarantined, slowest {} ms{}",
            self.calls,
            self.named,
            self.quarantined,
            self.slowest.as_millis(),
            self.other
                .as_ref()
                .map(|o| format!(", unexpected: {o}"))
                .unwrap_or_default()
        )
    }
}

struct Measured {
    latencies: Vec<Duration>,
    attack: Option<AttackOutcome>,
}

impl Measured {
    fn p50_ms(&self) -> f64 {
        crate::latency::percentile_ms(&self.latencies, 0.50)
    }

    fn p99_ms(&self) -> f64 {
        crate::latency::percentile_ms(&self.latencies, 0.99)
    }
}

/// Neighbour clients read for [`PHASE`] while attackers (if any) hit their own routes.
async fn measure(client: &Client, url: &str, token: &str, attack: Option<&Attack>) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let outcome = Arc::new(Mutex::new(AttackOutcome::default()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..NEIGHBOURS {
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        let (stop, latencies) = (stop.clone(), latencies.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                let ok = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
                if ok {
                    latencies.lock().await.push(began.elapsed());
                }
            }
        });
    }
    if let Some(attack) = attack {
        for _ in 0..ATTACKERS {
            let client = client.clone();
            let (url, token, expected) = (
                attack.url.clone(),
                attack.token.clone(),
                attack.expected.clone(),
            );
            let (stop, outcome) = (stop.clone(), outcome.clone());
            tasks.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let Ok(response) = client.get(&url).bearer_auth(&token).send().await else {
                        continue;
                    };
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or_default();
                    let elapsed = began.elapsed();
                    let detail = body["detail"].as_str().unwrap_or_default();
                    let mut o = outcome.lock().await;
                    o.calls += 1;
                    o.slowest = o.slowest.max(elapsed);
                    let quarantined = detail.ends_with("(quarantined)");
                    let as_expected = match &expected {
                        None => status == StatusCode::OK,
                        Some(named) => {
                            status == StatusCode::FORBIDDEN && (detail == named || quarantined)
                        }
                    };
                    if as_expected {
                        o.named += 1;
                        o.quarantined += usize::from(quarantined);
                    } else if o.other.is_none() {
                        o.other = Some(format!("{status} {detail}"));
                    }
                }
            });
        }
    }
    tokio::time::sleep(PHASE).await;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let latencies = std::mem::take(&mut *latencies.lock().await);
    let attack = match attack {
        Some(_) => Some(std::mem::take(&mut *outcome.lock().await)),
        None => None,
    };
    Measured { latencies, attack }
}

/// An attacker and a neighbour organization with their owners' tokens.
async fn tenants(client: &Client, base: &str) -> anyhow::Result<(String, String, String, String)> {
    let operator = tenantry_e2e::OPERATOR_TOKEN;
    let (_, provider) =
        tenants::with_owner(client, base, operator, "noisy-sp", "service_provider").await?;
    let (attacker, attacker_owner) =
        tenants::with_owner(client, base, &provider, "attacker", "business_user").await?;
    let (neighbour, neighbour_owner) =
        tenants::with_owner(client, base, &provider, "neighbour", "business_user").await?;
    Ok((attacker, attacker_owner, neighbour, neighbour_owner))
}
