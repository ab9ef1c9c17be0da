//! Policy uploads under load: while one tenant publishes the costliest policy it may (the most
//! fixtures the gate takes, each running to the operation limit) and previews a spinning
//! candidate over and over, clients of a neighbour organization create teams, and their write
//! latency is compared with the same writes while the attacker's requests cost nothing. Before
//! tenant code left the writer thread, each upload's fixture gate held every tenant's writes
//! (the attack test saw one wait 2.6 s); the neighbour's write p99 must now stay within 2× its
//! baseline, and every attacker request must end with its named answer (422 for the failing
//! gate, 429 while the attacker's one policy job is busy, 200 for a preview).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::server::Server;
use crate::tenants;

const NEIGHBOURS: usize = 4;
const PHASE: Duration = Duration::from_secs(6);

/// The upload: the most fixtures a version may carry, each spinning to the operation limit.
fn worst_upload() -> Value {
    let cases: Vec<Value> = (0..tenantry::app::quotas::Quotas::default().fixtures_per_version)
        .map(|i| json!({"name": format!("case {i}"), "input": tenantry_e2e::authorize_input("team.create", json!({"name": "x"})), "expect": "deny"}))
        .collect();
    json!({"source": "fn authorize(input) { let n = 0; loop { n += 1; } }", "fixtures": cases})
}

pub async fn run(binary: &Path) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(binary, data.path(), &data.path().join("server.log")).await?;
    let client = Client::new();
    let base = server.base.clone();
    let [
        attacker,
        attacker_owner,
        quiet,
        quiet_owner,
        busy,
        busy_owner,
    ] = tenants(&client, &base).await?;
    // The attacker has decisions to preview.
    for n in 0..50 {
        client
            .post(format!("{base}/v1/orgs/{attacker}/teams"))
            .bearer_auth(&attacker_owner)
            .json(&json!({"name": format!("t{n}")}))
            .send()
            .await?;
    }
    let baseline = writes(&client, &base, &quiet, &quiet_owner, None).await;
    let attack = Attack {
        base: base.clone(),
        org: attacker,
        token: attacker_owner,
    };
    let under = writes(&client, &base, &busy, &busy_owner, Some(&attack)).await;
    let ratio = under.p99_ms() / baseline.p99_ms();
    println!(
        "neighbour writes alone:        {} writes, p50 {:>6.2} ms, p99 {:>6.2} ms",
        baseline.latencies.len(),
        baseline.p50_ms(),
        baseline.p99_ms()
    );
    println!(
        "neighbour writes under upload: {} writes, p50 {:>6.2} ms, p99 {:>6.2} ms ({ratio:.2}×), slowest {} ms",
        under.latencies.len(),
        under.p50_ms(),
        under.p99_ms(),
        under.slowest().as_millis()
    );
    println!("attacker: {}", under.attack.summary());
    let alive = client.get(format!("{base}/healthz")).send().await.is_ok();
    server.kill()?;
    if !alive || ratio > 2.0 || under.attack.unexpected.is_some() || under.attack.uploads == 0 {
        bail!(
            "policy uploads under load: ratio {ratio:.2}, alive {alive}, attacker {}",
            under.attack.summary()
        );
    }
    Ok(())
}

struct Attack {
    base: String,
    org: String,
    token: String,
}

#[derive(Default)]
struct AttackOutcome {
    /// Uploads whose gate ran and refused the version (422).
    uploads: usize,
    previews: usize,
    /// Requests told to wait for the attacker's running job (429).
    busy: usize,
    unexpected: Option<String>,
}

impl AttackOutcome {
    fn summary(&self) -> String {
        format!(
            "{} uploads gated and refused, {} previews, {} told to wait (429){}",
            self.uploads,
            self.previews,
            self.busy,
            self.unexpected
                .as_ref()
                .map(|u| format!(", unexpected: {u}"))
                .unwrap_or_default()
        )
    }
}

struct Measured {
    latencies: Vec<Duration>,
    attack: AttackOutcome,
}

impl Measured {
    fn p50_ms(&self) -> f64 {
        crate::latency::percentile_ms(&self.latencies, 0.50)
    }

    fn p99_ms(&self) -> f64 {
        crate::latency::percentile_ms(&self.latencies, 0.99)
    }

    fn slowest(&self) -> Duration {
        self.latencies.iter().copied().max().unwrap_or_default()
    }
}

/// Neighbour clients create teams for [`PHASE`] while the attacker (if any) uploads and
/// previews.
async fn writes(
    client: &Client,
    base: &str,
    org: &str,
    token: &str,
    attack: Option<&Attack>,
) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let outcome = Arc::new(Mutex::new(AttackOutcome::default()));
    let counter = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..NEIGHBOURS {
        let (client, token) = (client.clone(), token.to_owned());
        let url = format!("{base}/v1/orgs/{org}/teams");
        let (stop, latencies, counter) = (stop.clone(), latencies.clone(), counter.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                let created = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("team {n}")}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::CREATED);
                if created {
                    latencies.lock().await.push(began.elapsed());
                }
            }
        });
    }
    if let Some(attack) = attack {
        let upload_url = format!("{}/v1/orgs/{}/policies/authorize", attack.base, attack.org);
        let preview_url = format!("{upload_url}/preview");
        let spinning = json!({"source": "fn authorize(input) { let n = 0; loop { n += 1; } }"});
        // Two clients, each alternating the worst upload and a preview of a spinning candidate.
        for _ in 0..2 {
            let client = client.clone();
            let (stop, outcome) = (stop.clone(), outcome.clone());
            let token = attack.token.clone();
            let (upload_url, preview_url) = (upload_url.clone(), preview_url.clone());
            let (upload, spinning) = (worst_upload(), spinning.clone());
            tasks.spawn(async move {
                for kind in ["upload", "preview"].into_iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let request = match kind {
                        "upload" => client.put(&upload_url).json(&upload),
                        _ => client.post(&preview_url).json(&spinning),
                    };
                    let Ok(response) = request.bearer_auth(&token).send().await else {
                        continue;
                    };
                    let status = response.status();
                    let mut o = outcome.lock().await;
                    match (kind, status) {
                        ("upload", StatusCode::UNPROCESSABLE_ENTITY) => o.uploads += 1,
                        ("preview", StatusCode::OK) => o.previews += 1,
                        (_, StatusCode::TOO_MANY_REQUESTS) => {
                            o.busy += 1;
                            drop(o);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        _ => {
                            if o.unexpected.is_none() {
                                o.unexpected = Some(format!("{kind}: {status}"));
                            }
                        }
                    }
                }
            });
        }
    }
    tokio::time::sleep(PHASE).await;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let latencies = std::mem::take(&mut *latencies.lock().await);
    let attack = std::mem::take(&mut *outcome.lock().await);
    Measured { latencies, attack }
}

/// The attacker and two neighbour organizations (one per phase, so neither phase runs into
/// the plan's team limit): (attacker, its owner, quiet, its owner, busy, its owner).
async fn tenants(client: &Client, base: &str) -> anyhow::Result<[String; 6]> {
    let operator = tenantry_e2e::OPERATOR_TOKEN;
    let (_, provider) =
        tenants::with_owner(client, base, operator, "uploads-sp", "service_provider").await?;
    let (attacker, attacker_owner) =
        tenants::with_owner(client, base, &provider, "uploader", "business_user").await?;
    let (quiet, quiet_owner) =
        tenants::with_owner(client, base, &provider, "quiet", "business_user").await?;
    let (busy, busy_owner) =
        tenants::with_owner(client, base, &provider, "busy", "business_user").await?;
    // Room for every team a phase creates.
    let plan: Value = client
        .post(format!("{base}/v1/plans"))
        .bearer_auth(operator)
        .json(&json!({"name": "Roomy", "limits": {"max_members": 1000, "max_teams": 1000000, "max_active_links": 10, "max_remote_support_minutes": 60}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    for org in [&quiet, &busy] {
        client
            .put(format!("{base}/v1/orgs/{org}/plan"))
            .bearer_auth(operator)
            .json(&json!({"plan_id": plan["id"]}))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok([
        attacker,
        attacker_owner,
        quiet,
        quiet_owner,
        busy,
        busy_owner,
    ])
}
