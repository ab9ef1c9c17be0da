//! Instruction counts that do not depend on a noisy clock: a decision (two Rhai `authorize`
//! layers, the log on), a plugin's decision (one capability-free Wasm layer, `invite-roles`,
//! on a fresh instance as every call is), a read use case (`get_org` as the organization's
//! owner) and a write use case (`create_resource`: a team, durable), each counted by
//! valgrind's callgrind.
//!
//! Each case runs in a process of its own under callgrind twice, doing its operation `n` and
//! then `2n` times after the same set-up; the difference over `n` is the cost of one operation
//! on every thread (the group-commit writer's share of a write included), with set-up, warm-up
//! and start-up cancelled out. The counts are compared with `bench/instructions.json`: more
//! than its case's tolerance above its baseline fails the run, so a regression shows as a
//! number.
//!
//! `bench/run instructions` checks; `bench/run instructions --bless` writes the counts
//! measured as the new baselines (commit them with the change that moved them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tenantry::app::resources::NewResource;
use tenantry::domain::ids::OrgId;
use tenantry::domain::resource::ResourceKind;
use tenantry::policy::{Layer, Subject};
use tenantry_e2e::TestServer;

use crate::inputs::invite_built;

/// A case: its name, how many operations the smaller of its two runs does, and how far above
/// its baseline its count may drift before the check fails. A decision's count moves by under
/// 1.5% between runs; a read's by up to 4% (170,519 to 177,416 in three runs), since the
/// recorder lingers for more decisions and its batches' commits fall differently in time; a
/// write's by up to ±3.5%, as the group-commit writer's wake-ups and the background timers
/// fall differently in time.
struct Case {
    name: &'static str,
    operations: u64,
    tolerance: f64,
}

const CASES: [Case; 4] = [
    Case {
        name: "decision",
        operations: 2_000,
        tolerance: 0.02,
    },
    Case {
        name: "plugin",
        operations: 2_000,
        tolerance: 0.02,
    },
    Case {
        name: "read",
        operations: 2_000,
        tolerance: 0.05,
    },
    Case {
        name: "write",
        operations: 200,
        tolerance: 0.07,
    },
];

fn baselines_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("instructions.json")
}

/// Counts every case under callgrind and checks (or, with `bless`, writes) the baselines.
pub fn run(bless: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        Command::new("valgrind").arg("--version").output().is_ok(),
        "valgrind is missing (apt-get install valgrind; bench/run installs it)"
    );
    let exe = std::env::current_exe()?;
    let mut counts = BTreeMap::new();
    for case in &CASES {
        let (name, n) = (case.name, case.operations);
        let once = callgrind(&exe, name, n)?;
        let twice = callgrind(&exe, name, 2 * n)?;
        let each = twice.saturating_sub(once) / n;
        println!(
            "{name:<9} {each:>12} instructions per operation ({n} more operations: {once} → {twice})"
        );
        counts.insert(name, each);
    }
    let path = baselines_path();
    if bless {
        std::fs::write(&path, serde_json::to_string_pretty(&counts)? + "\n")?;
        println!("baselines written to {}", path.display());
        return Ok(());
    }
    let baselines: BTreeMap<String, u64> =
        serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (write it with `instructions --bless`)",
                path.display()
            )
        })?)?;
    let mut regressed = Vec::new();
    for case in &CASES {
        let name = case.name;
        let count = counts[name];
        let Some(&baseline) = baselines.get(name) else {
            anyhow::bail!("no baseline for `{name}` in {}", path.display());
        };
        let ratio = count as f64 / baseline as f64;
        println!("{name:<9} {count:>12} against {baseline:>12}: {ratio:.3}×");
        if ratio > 1.0 + case.tolerance {
            regressed.push(format!(
                "{name}: {count} instructions, baseline {baseline} ({ratio:.3}×, +{:.0}% allowed)",
                case.tolerance * 100.0
            ));
        }
    }
    anyhow::ensure!(
        regressed.is_empty(),
        "more instructions than the baselines allow: {}",
        regressed.join("; ")
    );
    Ok(())
}

/// The instructions a process running `case` `n` times executes, all threads, under callgrind.
fn callgrind(exe: &Path, case: &str, n: u64) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("callgrind.out");
    let run = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        // Wasmtime's and Rhai's generated code is not self-modifying; the default check holds.
        .args([exe.as_os_str(), "instructions-case".as_ref(), case.as_ref()])
        .arg(n.to_string())
        .output()?;
    anyhow::ensure!(
        run.status.success(),
        "callgrind of `{case}` ×{n} failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out)?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|total| total.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no total in {}", out.display()))
}

/// One case, `n` times, in this process (started by [`callgrind`]).
pub async fn case(name: &str, n: u64) -> anyhow::Result<()> {
    match name {
        "decision" => decisions(n).await,
        "plugin" => plugin_decisions(n),
        "read" | "write" => use_cases(name, n).await,
        other => anyhow::bail!("unknown case `{other}`"),
    }
}

/// The shipped platform layer and an organization's own Rhai layer, decided `n` times.
async fn decisions(n: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = crate::setup::app_in(dir.path()).await?;
    let subject = Subject {
        provider: None,
        org: Some(OrgId::new()),
    };
    let own = crate::setup::portal_invites_only(&app)?;
    crate::setup::bind_authorize(&app, Layer::Organization, subject.org, own);
    let input = invite_built("admin", "member")?;
    for round in 0..n {
        let decision = app.decide_input(subject, input.clone());
        anyhow::ensure!(decision.allowed());
        if round % 1_000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // The log entries reach the disk, as the server's would.
    app.recorded().await;
    Ok(())
}

/// One Wasm layer deciding `n` times: the plugin path alone (input, instance, call, reset).
fn plugin_decisions(n: u64) -> anyhow::Result<()> {
    let engine = crate::peers::wasm_engine(&tenantry_e2e::plugins::bare_plugin("invite_roles"))?;
    let input = invite_built("admin", "member")?;
    for _ in 0..n {
        let decision = engine.decide_input(Subject::default(), &input);
        anyhow::ensure!(decision.allowed());
    }
    Ok(())
}

/// A customer's owner reads its organization, or creates teams in it, `n` times.
async fn use_cases(name: &str, n: u64) -> anyhow::Result<()> {
    let server =
        TestServer::spawn_with(tenantry_e2e::policies_dir(), tenantry_e2e::unthrottled).await?;
    let (_, provider) = server.provider("counted-sp").await;
    let (org, owner) = server.customer(&provider, "counted", true).await;
    let app = server.app().clone();
    let actor = app.authenticate(&owner)?;
    let org = OrgId(uuid::Uuid::parse_str(&org)?);
    for i in 0..n {
        if name == "read" {
            app.get_org(actor, org)?;
        } else {
            let team = NewResource {
                name: Some(format!("team {i}")),
                kind: None,
                member_ids: None,
            };
            app.create_resource(actor, org, ResourceKind::Team, team)
                .await?;
        }
    }
    app.recorded().await;
    Ok(())
}
