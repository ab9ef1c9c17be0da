//! One rule, four engines, one run: "a user with role admin in organization X may invite a
//! member; a member may not" as tenantry's Rhai layer, tenantry's Wasm layer (the
//! `invite-roles` plugin, built both ways), Cedar (pre-built request and entities, and
//! entities parsed from JSON per decision) and Rego via regorus (`set_input` + `eval_rule`).
//!
//! tenantry's figure is the engine's full decision for one layer: from the domain input (the
//! JSON map every layer sees) to the combined verdict, as `PolicyEngine::decide` runs it for a
//! request. Every engine is first checked to allow the admin and deny the member.
//!
//! Cedar and regorus run in their own process (`tenantry-peers`, see its Cargo.toml for why),
//! in turns with tenantry's engines, so that the machine's noise lands on all of them alike.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantry::policy::compiled::CompiledPolicy;
use tenantry::policy::rhai_policy::RhaiLimits;
use tenantry::policy::version::BindingKey;
use tenantry::policy::wasm::WasmLimits;
use tenantry::policy::{Hook, PolicyEngine, Subject};

use crate::inputs::{invite_built, invite_input};
use crate::stats::{Summary, ratio, report};

/// Decisions per engine, in `TURNS` turns between the two processes.
const ROUNDS: usize = 20_000;
const TURNS: usize = 4;
const WARM_UP: usize = 2_000;
/// Decisions timed in a row before the next engine's turn: long enough for warm caches (as in
/// a hot loop), short enough that noise spreads over every engine.
const BLOCK: usize = 500;

/// The rule as a platform Rhai policy.
pub const RHAI_RULE: &str = r#"
fn authorize(input) {
    if input.action != "member.invite" { return abstain(); }
    let role = input.actor.role;
    let invited = input.resource.role;
    if role == "owner" && (invited == "admin" || invited == "member") {
        return allow("owners invite admins and members");
    }
    if role == "admin" && invited == "member" { return allow("admins invite members"); }
    deny("this role may not invite")
}
"#;

/// One engine's decision, returning whether it allowed.
type Decide<'a> = Box<dyn FnMut() -> bool + 'a>;

fn time_blocks(engines: &mut [(&str, Decide<'_>)], samples: &mut [Vec<Duration>], rounds: usize) {
    for _ in 0..rounds / BLOCK {
        for ((_, decide), samples) in engines.iter_mut().zip(samples.iter_mut()) {
            for _ in 0..BLOCK {
                let t = Instant::now();
                black_box(decide());
                samples.push(t.elapsed());
            }
        }
    }
}

fn engine() -> PolicyEngine {
    PolicyEngine::new(RhaiLimits::default(), WasmLimits::default())
}

/// Binds `policy` as the platform layer of `authorize`, the engine's only layer.
fn bind(engine: &PolicyEngine, policy: CompiledPolicy) {
    engine.apply(
        BindingKey::platform(Hook::Authorize),
        1,
        Some(Arc::new(policy)),
    );
}

fn rhai_engine(source: &str) -> anyhow::Result<PolicyEngine> {
    let engine = engine();
    let policy = engine
        .runtime()
        .compile(Hook::Authorize, "rule.rhai", source)
        .map_err(anyhow::Error::msg)?;
    bind(&engine, policy);
    Ok(engine)
}

/// A plugin compiled by the engine's own Wasm runtime, bound with `config`.
pub fn wasm_policy(
    engine: &PolicyEngine,
    hook: Hook,
    component: &[u8],
    config: &str,
) -> anyhow::Result<CompiledPolicy> {
    let (plugin, _) = engine
        .wasm()
        .map_err(anyhow::Error::msg)?
        .compile(component)
        .map_err(|f| anyhow::anyhow!(f.message))?;
    let mut policy = engine.keep_plugin(hook, plugin, config.into());
    policy.name = "plugin".into();
    policy.set_number(1);
    Ok(policy)
}

/// An engine whose one layer is `component`, bound as the platform's `authorize`.
pub fn wasm_engine(component: &[u8]) -> anyhow::Result<PolicyEngine> {
    let engine = engine();
    let policy = wasm_policy(&engine, Hook::Authorize, component, "{}")?;
    bind(&engine, policy);
    Ok(engine)
}

/// tenantry's one-layer decision, checked first.
fn tenantry_decide(engine: &PolicyEngine) -> anyhow::Result<Decide<'_>> {
    let (admin, member) = (
        invite_built("admin", "member")?,
        invite_built("member", "member")?,
    );
    let subject = Subject::default();
    anyhow::ensure!(engine.decide_input(subject, &admin).allowed());
    anyhow::ensure!(!engine.decide_input(subject, &member).allowed());
    Ok(Box::new(move || {
        engine.decide_input(subject, &admin).allowed()
    }))
}

fn peers_binary() -> PathBuf {
    let bench = std::env::current_exe().unwrap_or_default();
    bench.with_file_name("tenantry-peers")
}

/// One turn of the peers' process: `(engine, samples)` per engine.
fn peers_turn(rounds: usize) -> anyhow::Result<Vec<(String, Vec<Duration>)>> {
    let output = Command::new(peers_binary())
        .arg(rounds.to_string())
        .arg(invite_input("admin", "member").to_string())
        .arg(invite_input("member", "member").to_string())
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run {} ({e}); build it first: cargo build --release -p tenantry-peers (bench/run does)",
                peers_binary().display()
            )
        })?;
    anyhow::ensure!(
        output.status.success(),
        "tenantry-peers failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let (name, samples) = line
                .split_once('\t')
                .ok_or_else(|| anyhow::anyhow!("unexpected line from tenantry-peers: {line}"))?;
            let samples = samples
                .split(' ')
                .map(|ns| ns.parse().map(Duration::from_nanos))
                .collect::<Result<_, _>>()?;
            Ok((name.to_owned(), samples))
        })
        .collect()
}

/// `only`: measure just tenantry's engines whose name contains it (for a profile).
pub fn run(only: Option<&str>) -> anyhow::Result<()> {
    println!(
        "rule: an admin may invite a member, a member may not (one layer, {ROUNDS} decisions each)"
    );
    let shipped = std::fs::read_to_string(tenantry_e2e::policies_dir().join("authorize.rhai"))?;
    let rule = rhai_engine(RHAI_RULE)?;
    let full = rhai_engine(&shipped)?;
    let bare = wasm_engine(&tenantry_e2e::plugins::bare_plugin("invite_roles"))?;
    let wasip2 = wasm_engine(&tenantry_e2e::plugins::plugin("invite_roles"))?;
    let mut engines: Vec<(&str, Decide<'_>)> = vec![
        ("tenantry Rhai layer (the rule)", tenantry_decide(&rule)?),
        (
            "tenantry Rhai layer (shipped authorize.rhai)",
            tenantry_decide(&full)?,
        ),
        (
            "tenantry Wasm layer (capability-free)",
            tenantry_decide(&bare)?,
        ),
        (
            "tenantry Wasm layer (wasm32-wasip2)",
            tenantry_decide(&wasip2)?,
        ),
    ];
    if let Some(only) = only {
        engines.retain(|(name, _)| name.contains(only));
    }
    for (_, decide) in &mut engines {
        for _ in 0..WARM_UP {
            black_box(decide());
        }
    }
    let mut ours = vec![Vec::with_capacity(ROUNDS); engines.len()];
    let mut theirs: Vec<(String, Vec<Duration>)> = Vec::new();
    for _ in 0..TURNS {
        if only.is_none() {
            for (i, (name, samples)) in peers_turn(ROUNDS / TURNS)?.into_iter().enumerate() {
                match theirs.get_mut(i) {
                    Some((_, all)) => all.extend(samples),
                    None => theirs.push((name, samples)),
                }
            }
        }
        time_blocks(&mut engines, &mut ours, ROUNDS / TURNS);
    }
    let mut summaries: Vec<(String, Summary)> = Vec::new();
    for (name, samples) in theirs {
        let summary = report(&name, samples);
        summaries.push((name, summary));
    }
    for ((name, _), samples) in engines.iter().zip(ours) {
        summaries.push(((*name).to_owned(), report(name, samples)));
    }
    if let Some((_, cedar)) = summaries.first().cloned() {
        for (name, summary) in &summaries[1..] {
            println!(
                "{name:<52} {:>6.2}x cedar pre-built (p50)",
                ratio(*summary, cedar)
            );
        }
    }
    Ok(())
}
