//! A full disk: the server's data directory on a small tmpfs (root only: it mounts one) is
//! filled by writes until the server refuses them; reads must keep working, the refusal must be
//! a clear 503, and once the file system grows again writes must succeed without a restart.
//! A kill and restart at the end checks that nothing acknowledged was lost or broken.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;

use crate::server::Server;
use crate::verify::{Ack, Acked, check_backup};

pub async fn run(binary: &Path, megabytes: u32) -> anyhow::Result<()> {
    let mount = tempfile::tempdir()?;
    let dir = mount.path();
    // The log stays off the full file system, and is kept for a look afterwards.
    let log = std::env::temp_dir().join("tenantry-full-disk.log");
    let _ = std::fs::remove_file(&log);
    remount(dir, megabytes, true)?;
    let outcome = fill_and_recover(binary, dir, &log, megabytes).await;
    let unmounted = Command::new("umount").arg(dir).status();
    let outcome = outcome.with_context(|| format!("server log: {}", log.display()))?;
    if !unmounted.is_ok_and(|s| s.success()) {
        bail!("could not unmount the tmpfs at {}", dir.display());
    }
    println!("{outcome}");
    Ok(())
}

async fn fill_and_recover(
    binary: &Path,
    dir: &Path,
    log: &Path,
    megabytes: u32,
) -> anyhow::Result<String> {
    let server = Server::start(binary, dir, log).await?;
    let client = reqwest::Client::new();
    let operator = tenantry_e2e::OPERATOR_TOKEN;
    let mut acked = Acked::default();
    let mut created = 0;
    let mut first_refusal = None;
    let create = |n: usize| {
        let body = tenantry_e2e::org_body(
            &format!("fill-{n}"),
            "business_user",
            "service_provider",
            false,
        );
        client
            .post(format!("{}/v1/orgs", server.base))
            .bearer_auth(operator)
            .json(&body)
            .send()
    };
    for n in 0..1_000_000 {
        let response = create(n).await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status == StatusCode::CREATED {
            created += 1;
            acked.extend(vec![Ack::Org(created_org(&body)?)]);
            continue;
        }
        first_refusal = Some((status, body));
        break;
    }
    let Some((status, body)) = first_refusal else {
        bail!("{megabytes} MiB never filled up");
    };
    if status != StatusCode::SERVICE_UNAVAILABLE || body["title"] != "storage full" {
        bail!("a full disk answered {status} {body}, not 503 storage full");
    }
    // More writes while the disk stays full: each refused the same way, none half-done.
    let mut refused_while_full = 0;
    for attempt in 0..20 {
        let response = create(2_000_000 + attempt).await?;
        match response.status() {
            StatusCode::SERVICE_UNAVAILABLE => refused_while_full += 1,
            StatusCode::CREATED => {
                // Space freed by a compaction or a pruned log; it counts as acknowledged.
                let body: Value = response.json().await?;
                acked.extend(vec![Ack::Org(created_org(&body)?)]);
            }
            other => bail!("a write on a full disk answered {other}"),
        }
    }
    let read = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await?
        .status();
    let health = client
        .get(format!("{}/v1/orgs?limit=1", server.base))
        .bearer_auth(operator)
        .send()
        .await?
        .status();

    remount(dir, megabytes * 4, false)?;
    let mut recovered_after = None;
    for attempt in 0..50 {
        let response = create(1_000_000 + attempt).await?;
        if response.status() == StatusCode::CREATED {
            let body: Value = response.json().await?;
            acked.extend(vec![Ack::Org(created_org(&body)?)]);
            recovered_after = Some(attempt);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill()?;
    let restarted = Server::start(binary, dir, log).await?;
    let checked = check_backup(&restarted, &acked, dir, 0).await?;
    restarted.kill()?;
    let Some(recovered_after) = recovered_after else {
        bail!("writes still failed after the file system grew");
    };
    if !checked.lost.is_empty() || !checked.violations.is_empty() {
        bail!(
            "after the full disk: {:?} {:?}",
            checked.lost,
            checked.violations
        );
    }
    Ok(format!(
        "full disk ({megabytes} MiB tmpfs): {created} organizations acknowledged, then `{status} {}` \
         (\"{}\"); {refused_while_full} of 20 further writes refused alike; meanwhile /readyz \
         {read} and reads {health}; after growing to {} MiB the \
         {} write succeeded; after a kill and restart {} of {} acknowledged writes present, \
         {} invariant violations",
        body["title"].as_str().unwrap_or_default(),
        body["detail"].as_str().unwrap_or_default(),
        megabytes * 4,
        ordinal(recovered_after + 1),
        checked.present,
        checked.expected,
        checked.violations.len()
    ))
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "first".into(),
        n => format!("{n}th"),
    }
}

fn remount(dir: &Path, megabytes: u32, fresh: bool) -> anyhow::Result<()> {
    let mut command = Command::new("mount");
    if fresh {
        command.args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"]);
    } else {
        command.args(["-o", &format!("remount,size={megabytes}m")]);
    }
    let status = command
        .arg(dir)
        .status()
        .context("running mount (the full-disk run needs root)")?;
    if !status.success() {
        bail!("mount failed (the full-disk run needs root)");
    }
    Ok(())
}

/// The id of the organization a creation answered.
fn created_org(body: &Value) -> anyhow::Result<tenantry::domain::ids::OrgId> {
    let id = uuid::Uuid::parse_str(body["id"].as_str().unwrap_or_default())?;
    Ok(tenantry::domain::ids::OrgId::from_key(id.as_u128()))
}
