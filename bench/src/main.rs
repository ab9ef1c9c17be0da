//! `cargo run --release -p tenantry-bench -- [reload|decision|all]`
//!
//! Prints p50/p99 figures measured on this machine, in one run each:
//! - `reload`: time from writing a platform policy file to the engine deciding with it;
//! - `decision`: one full `authorize` decision (platform layer, real policy, realistic input)
//!   with the decision log on and off, and the ratio.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tenantry::policy::engine::Subject;
use tenantry::policy::version::BindingKey;
use tenantry::policy::{Hook, Layer};
use tenantry::{App, Settings};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{name:<40} n={:<7} p50={:>10.2?} p99={:>10.2?} max={:>10.2?}",
        samples.len(),
        p50,
        p99,
        samples[samples.len() - 1]
    );
    (p50, p99)
}

fn copy_policies(to: &Path) -> anyhow::Result<()> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    std::fs::create_dir_all(to.join("tests"))?;
    for dir in [from.clone(), from.join("tests")] {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.strip_prefix(&from)?))?;
            }
        }
    }
    Ok(())
}

async fn app_in(dir: &Path) -> anyhow::Result<App> {
    copy_policies(&dir.join("policies"))?;
    let settings = Settings {
        data_dir: dir.join("data"),
        policies: dir.join("policies"),
        ..Settings::default()
    };
    Ok(App::build(settings).await?.app)
}

/// File write → the engine's platform `authorize` binding has the new content.
async fn reload() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = app_in(dir.path()).await?;
    let background = app.start_background();
    let file = dir.path().join("policies/authorize.rhai");
    let original = std::fs::read_to_string(&file)?;
    let key = BindingKey::platform(Hook::Authorize);
    let mut samples = Vec::new();
    for revision in 1..=50 {
        let text = original.replace(
            "is suspended and read-only\");",
            &format!("is suspended and read-only (rev {revision})\");"),
        );
        let started = Instant::now();
        std::fs::write(&file, &text)?;
        loop {
            let active = app.policies.snapshot().get(&key).map(|p| p.number);
            if active == Some(revision + 1) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("revision {revision} was not picked up");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report("reload: file write -> active", samples);
    for task in background {
        task.abort();
    }
    Ok(())
}

/// One `authorize` decision with and without the decision log.
async fn decision() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = app_in(dir.path()).await?;
    let input = json!({
        "action": "member.invite",
        "actor": {"id": "0190f5c4-0000-7000-8000-000000000001", "operator": false, "relation": "member",
                  "role": "admin", "provider_role": null, "grant": null},
        "org": {"id": "0190f5c4-0000-7000-8000-0000000000bb", "tenant_id": "acme", "name": "Acme", "status": "active",
                "account_type": "business_user", "hierarchy": "node", "managed_by": "customer",
                "remote_support_requires_approval": true, "service_provider_id": null, "region": "default"},
        "resource": {"role": "member", "portal_access": true},
        "now": "2026-11-22T10:00:00Z",
    });
    let subject = Subject {
        provider: None,
        org: None,
    };
    let _ = Layer::Platform;
    let rounds = 20_000;
    for _ in 0..2_000 {
        app.decide(Hook::Authorize, subject, input.clone());
    }
    let mut off = Vec::with_capacity(rounds);
    let mut on = Vec::with_capacity(rounds);
    // Interleaved, so that machine noise lands on both alike.
    for _ in 0..rounds {
        // Both arms get a fresh input, as a request builds one.
        let fresh = input.clone();
        let t = Instant::now();
        let d = app.policies.decide(Hook::Authorize, subject, &fresh);
        off.push(t.elapsed());
        assert!(d.allowed());
        let fresh = input.clone();
        let t = Instant::now();
        let d = app.decide(Hook::Authorize, subject, fresh);
        on.push(t.elapsed());
        assert!(d.allowed());
        if on.len() % 1_000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let (off50, off99) = report("decision: authorize, log off", off);
    let (on50, on99) = report("decision: authorize, log on", on);
    println!(
        "decision log overhead: p50 {:+.2?} ({:.2}x), p99 {:+.2?}",
        on50.saturating_sub(off50),
        on50.as_secs_f64() / off50.as_secs_f64(),
        on99.saturating_sub(off99)
    );
    Ok(())
}

/// A plugin's cost: a fresh instance from its `InstancePre`, and a full one-layer decision
/// (instance + typed input + call + verdict), outside any Tokio runtime; for the same plugin
/// built as a `wasm32-wasip2` component and as a capability-free component.
fn wasm() -> anyhow::Result<()> {
    use tenantry::policy::wasm::{WasmLimits, WasmRuntime};
    let runtime = WasmRuntime::new(WasmLimits::default()).map_err(|e| anyhow::anyhow!(e))?;
    for (kind, bytes) in [
        (
            "wasm32-wasip2",
            tenantry_e2e::plugins::plugin("region_fence"),
        ),
        (
            "capability-free",
            tenantry_e2e::plugins::bare_plugin("region_fence"),
        ),
    ] {
        let (plugin, _) = runtime
            .compile(&bytes)
            .map_err(|f| anyhow::anyhow!(f.message))?;
        println!(
            "plugin: region_fence as {kind}, {} bytes, imports WASI: {}",
            plugin.size, plugin.imports_wasi
        );
        measure_plugin(&runtime, &plugin, kind)?;
    }
    Ok(())
}

fn measure_plugin(
    runtime: &tenantry::policy::wasm::WasmRuntime,
    plugin: &tenantry::policy::wasm::LoadedPlugin,
    kind: &str,
) -> anyhow::Result<()> {
    let org = |region: &str| {
        json!({"id": "o", "tenant_id": "t", "name": "n", "status": "active", "account_type": "business_user",
        "hierarchy": "node", "managed_by": "customer", "remote_support_requires_approval": true,
        "service_provider_id": null, "region": region})
    };
    let input = json!({"action": "invite", "from": org("eu-central"), "to": org("us-east"), "from_active_links": 1,
        "to_active_links": 2, "from_max_active_links": 10, "to_max_active_links": 10, "now": "2026-11-22T10:00:00Z"});
    let config = r#"{"allowed": [["eu-central", "us-east"]]}"#;
    let fail = |f: tenantry::policy::rhai_policy::PolicyFault| anyhow::anyhow!(f.message);
    for _ in 0..500 {
        runtime
            .evaluate(plugin, Hook::Link, &input, config)
            .map_err(fail)?;
    }
    let rounds = 5_000;
    let mut instantiate = Vec::with_capacity(rounds);
    let mut decide = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        runtime.instantiate_only(plugin).map_err(fail)?;
        instantiate.push(t.elapsed());
        let t = Instant::now();
        runtime
            .evaluate(plugin, Hook::Link, &input, config)
            .map_err(fail)?;
        decide.push(t.elapsed());
    }
    report(&format!("wasm ({kind}): instantiate"), instantiate);
    report(&format!("wasm ({kind}): link decision"), decide);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    println!(
        "tenantry-bench {what}: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if matches!(what.as_str(), "reload" | "all") {
        reload().await?;
    }
    if matches!(what.as_str(), "decision" | "all") {
        decision().await?;
    }
    if matches!(what.as_str(), "wasm" | "all") {
        // Outside the runtime's worker threads, as the group-commit writer calls plugins.
        tokio::task::spawn_blocking(wasm).await??;
    }
    Ok(())
}
