//! A plugin's fixed cost: a fresh instance from its `InstancePre` (pooling allocator), and a
//! one-layer `link` decision through the runtime, for the same plugin built as a
//! `wasm32-wasip2` component, as a capability-free component, and in JavaScript
//! (componentize-js) when node is installed. Runs outside any Tokio
//! runtime, as the group-commit writer calls plugins.

use std::time::Instant;

use tenantry::policy::Hook;
use tenantry::policy::rhai_policy::PolicyFault;
use tenantry::policy::wasm::{LoadedPlugin, WarmKey, WasmLimits, WasmRuntime};

use crate::inputs::link_input;
use crate::stats::report;

pub fn run() -> anyhow::Result<()> {
    let runtime = WasmRuntime::new(WasmLimits::default()).map_err(anyhow::Error::msg)?;
    let mut builds = vec![
        (
            "wasm32-wasip2",
            tenantry_e2e::plugins::plugin("region_fence"),
        ),
        (
            "capability-free",
            tenantry_e2e::plugins::bare_plugin("region_fence"),
        ),
    ];
    // The same plugin in JavaScript (plugins/region-fence-js), when node can build it.
    if let Some(js) = tenantry_e2e::plugins::js_plugin("region-fence-js") {
        builds.push(("javascript", js));
    }
    for (kind, bytes) in builds {
        let (plugin, _) = runtime
            .compile(&bytes)
            .map_err(|f| anyhow::anyhow!(f.message))?;
        println!(
            "plugin: region_fence as {kind}, {} bytes, imports WASI: {}",
            plugin.size, plugin.imports_wasi
        );
        measure(&runtime, &plugin, kind)?;
    }
    Ok(())
}

fn measure(runtime: &WasmRuntime, plugin: &LoadedPlugin, kind: &str) -> anyhow::Result<()> {
    let input = link_input("eu-central", "us-east");
    let config = r#"{"allowed": [["eu-central", "us-east"]]}"#;
    let fail = |f: PolicyFault| anyhow::anyhow!(f.message);
    for _ in 0..500 {
        runtime
            .evaluate(plugin, Hook::Link, &input, config)
            .0
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
            .0
            .map_err(fail)?;
        decide.push(t.elapsed());
    }
    report(&format!("wasm ({kind}): instantiate"), instantiate);
    report(&format!("wasm ({kind}): link decision"), decide);
    measure_reused(runtime, plugin, kind)
}

/// Live decisions for one binding and organization, which reuse an instance when the
/// plugin's calls are expensive on a fresh one (`wasm::warm`); every hundredth runs on a fresh
/// instance, as the runtime retires instances after 100 calls.
fn measure_reused(runtime: &WasmRuntime, plugin: &LoadedPlugin, kind: &str) -> anyhow::Result<()> {
    let input = link_input("eu-central", "us-east");
    let config = r#"{"allowed": [["eu-central", "eu-central"]]}"#;
    let key = Some(WarmKey { binding: 1, org: 1 });
    let fail = |f: PolicyFault| anyhow::anyhow!(f.message);
    let decide = || runtime.evaluate_warm(plugin, Hook::Link, &input, None, config, key);
    decide().0.map_err(fail)?;
    if !plugin.reused() {
        println!("wasm ({kind}): instances not reused (a call costs under the threshold)");
        return Ok(());
    }
    for _ in 0..500 {
        decide().0.map_err(fail)?;
    }
    let rounds = 5_000;
    let mut times = Vec::with_capacity(rounds);
    let mut fuel = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let (answer, report) = decide();
        times.push(t.elapsed());
        answer.map_err(fail)?;
        fuel.push(report.fuel);
    }
    fuel.sort_unstable();
    println!(
        "wasm ({kind}): reused instance, fuel per call p50 {} p99 {}",
        fuel[fuel.len() / 2],
        fuel[fuel.len() * 99 / 100]
    );
    report(
        &format!("wasm ({kind}): link decision, reused instance"),
        times,
    );
    Ok(())
}
