//! The decision log's cost: one `authorize` decision (platform layer, shipped policy) with the
//! log on and off, interleaved so that machine noise lands on both alike.

use std::time::Instant;

use tenantry::policy::Hook;
use tenantry::policy::engine::Subject;

use crate::inputs::invite_input;
use crate::setup::app_in;
use crate::stats::report;

pub async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = app_in(dir.path()).await?;
    let input = invite_input("admin", "member");
    let subject = Subject::default();
    for _ in 0..2_000 {
        app.decide(Hook::Authorize, subject, input.clone());
    }
    let rounds = 20_000;
    let mut off = Vec::with_capacity(rounds);
    let mut on = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // Both arms get a fresh input, as a request builds one.
        let fresh = input.clone();
        let t = Instant::now();
        let d = app.policies.decide(Hook::Authorize, subject, &fresh);
        off.push(t.elapsed());
        anyhow::ensure!(
            d.allowed(),
            "the shipped policy lets an admin invite a member"
        );
        let fresh = input.clone();
        let t = Instant::now();
        let d = app.decide(Hook::Authorize, subject, fresh);
        on.push(t.elapsed());
        anyhow::ensure!(d.allowed());
        if on.len() % 1_000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let off = report("decision: authorize (shipped policy), log off", off);
    let on = report("decision: authorize (shipped policy), log on", on);
    println!(
        "decision log overhead: p50 {:+.2?} ({:.2}x), p99 {:+.2?}",
        on.p50.saturating_sub(off.p50),
        crate::stats::ratio(on, off),
        on.p99.saturating_sub(off.p99)
    );
    Ok(())
}
