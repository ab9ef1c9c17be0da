//! Hot reload latency: from writing a platform policy file to the engine deciding with it.

use std::time::{Duration, Instant};

use tenantry::policy::Hook;
use tenantry::policy::version::BindingKey;

use crate::setup::app_in;
use crate::stats::report;

pub async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = app_in(dir.path()).await?;
    let background = app.start_background();
    let file = dir.path().join("policies/authorize.rhai");
    let original = std::fs::read_to_string(&file)?;
    let key = BindingKey::platform(Hook::Authorize);
    let mut samples = Vec::new();
    for revision in 1..=50 {
        let started = Instant::now();
        std::fs::write(&file, revised(&original, revision))?;
        loop {
            let active = app.policies.snapshot().get(&key).map(|p| p.number());
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

/// The shipped `authorize.rhai` with one reason text changed: a new version that decides as
/// the original does.
pub fn revised(original: &str, revision: u32) -> String {
    original.replace(
        "is suspended and read-only\");",
        &format!("is suspended and read-only (rev {revision})\");"),
    )
}
