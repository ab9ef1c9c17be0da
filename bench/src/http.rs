//! HTTP overhead and hot reload under load, with wrk (2 threads, 64 connections) against the
//! real server: an authorized `GET /v1/orgs/{id}` and durable team creations spread over
//! [`WRITING_ORGS`] organizations against `/healthz` in the same run, each with the server's CPU time per
//! request, then the read while the platform `authorize` policy file is rewritten 100 times.

use std::path::Path;
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
    /// CPU time this process (the server; wrk is a child) used during the run.
    server_cpu: Duration,
}

impl Load {
    fn cpu_per_request(&self) -> Duration {
        self.server_cpu / (self.requests.max(1) as u32)
    }
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
        server_cpu: Duration::ZERO,
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

/// What wrk sends: one URL with an optional token, or what a Lua script builds.
enum Requests<'a> {
    Get { url: String, token: Option<String> },
    Scripted { base: String, script: &'a Path },
}

/// Runs wrk for `seconds`.
async fn wrk(requests: Requests<'_>, seconds: u32) -> anyhow::Result<Load> {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c64", "--latency", &format!("-d{seconds}s")]);
    match requests {
        Requests::Get { url, token } => {
            if let Some(token) = token {
                command.args(["-H", &format!("authorization: Bearer {token}")]);
            }
            command.arg(url);
        }
        Requests::Scripted { base, script } => {
            command.arg("-s").arg(script).arg(base);
        }
    }
    tokio::task::spawn_blocking(move || {
        let before = crate::cpu::used()?;
        let output = command.output().map_err(|e| {
            anyhow::anyhow!("cannot run wrk ({e}); `bench/run` installs it (apt-get install wrk)")
        })?;
        let server_cpu = crate::cpu::used()?.saturating_sub(before);
        anyhow::ensure!(output.status.success(), "wrk failed: {output:?}");
        let load = parse(&String::from_utf8_lossy(&output.stdout))?;
        Ok(Load { server_cpu, ..load })
    })
    .await?
}

fn print(name: &str, load: &Load) {
    println!(
        "{name:<52} {:>9.0} req/s p50={:>9.2?} p99={:>9.2?} requests={} failed={} server CPU/request={:.1?}",
        load.requests_per_second,
        load.p50,
        load.p99,
        load.requests,
        load.failed,
        load.cpu_per_request()
    );
}

/// Organizations the team creations are spread over: enough that none reaches its plan's
/// 1,000 teams in the run's 10 seconds at up to 12,000 creations a second.
const WRITING_ORGS: usize = 128;

/// A wrk script creating teams round-robin in `targets` (organization id, its owner's token),
/// each name unique across wrk's threads.
fn team_creations(targets: &[(String, String)]) -> String {
    let targets: Vec<String> = targets
        .iter()
        .map(|(org, token)| format!("{{\"{org}\", \"{token}\"}}"))
        .collect();
    format!(
        r#"local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local targets = {{ {} }}
local n = 0
function request()
  n = n + 1
  local target = targets[n % #targets + 1]
  return wrk.format("POST", "/v1/orgs/" .. target[1] .. "/teams",
    {{["authorization"] = "Bearer " .. target[2], ["content-type"] = "application/json"}},
    '{{"name": "team ' .. id .. '-' .. n .. '"}}')
end
"#,
        targets.join(", ")
    )
}

pub async fn run() -> anyhow::Result<()> {
    let (server, policies) = TestServer::spawn_with_own_policies(tenantry_e2e::unthrottled).await?;
    let (_, provider) = server.provider("bench-sp").await;
    let (org, token) = server.customer(&provider, "bench-read", true).await;
    let read = format!("{}/v1/orgs/{org}", server.base);
    let health = format!("{}/healthz", server.base);

    let get = |url: &String, token: Option<&String>| Requests::Get {
        url: url.clone(),
        token: token.cloned(),
    };
    let mut writers = Vec::new();
    for i in 0..WRITING_ORGS {
        writers.push(
            server
                .customer(&provider, &format!("bench-write-{i}"), true)
                .await,
        );
    }
    let script = tempfile::NamedTempFile::with_suffix(".lua")?;
    std::fs::write(script.path(), team_creations(&writers))?;

    let healthz = wrk(get(&health, None), 10).await?;
    print("wrk /healthz", &healthz);
    let reads = wrk(get(&read, Some(&token)), 10).await?;
    print("wrk GET /v1/orgs/{id} (authorized)", &reads);
    let scripted = Requests::Scripted {
        base: server.base.clone(),
        script: script.path(),
    };
    let writes = wrk(scripted, 10).await?;
    print(
        &format!("wrk POST /v1/orgs/{{id}}/teams (durable, {WRITING_ORGS} orgs)"),
        &writes,
    );
    anyhow::ensure!(writes.failed == 0, "team creations failed: {writes:?}");
    println!(
        "authorized read / healthz: {:.0}%; durable creation / healthz: {:.0}%",
        100.0 * reads.requests_per_second / healthz.requests_per_second,
        100.0 * writes.requests_per_second / healthz.requests_per_second
    );

    // Hot reload under load: the same read while the policy file changes SWAPS times.
    let file = policies.path().join("authorize.rhai");
    let original = std::fs::read_to_string(&file)?;
    let key = BindingKey::platform(Hook::Authorize);
    let load = tokio::spawn(wrk(
        Requests::Get {
            url: read,
            token: Some(token),
        },
        25,
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut visible = Vec::new();
    for revision in 1..=SWAPS {
        let started = Instant::now();
        std::fs::write(&file, revised(&original, revision))?;
        loop {
            let active = server
                .app()
                .policies
                .snapshot()
                .get(&key)
                .map(|p| p.number());
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
