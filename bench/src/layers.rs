//! A full decision as a customer's request meets it: three layers of `authorize` (the shipped
//! platform Rhai policy, the provider's `invite-roles` Wasm plugin, the organization's own Rhai
//! policy) with the decision log on.

use std::time::Instant;

use tenantry::domain::ids::OrgId;
use tenantry::policy::{Hook, Layer, Subject};

use crate::inputs::invite_built;
use crate::peers::wasm_policy;
use crate::setup::{app_in, bind_authorize, portal_invites_only};
use crate::stats::report;

pub async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = app_in(dir.path()).await?;
    let subject = Subject {
        provider: Some(OrgId::new()),
        org: Some(OrgId::new()),
    };
    let provider = wasm_policy(
        &app.policies,
        Hook::Authorize,
        &tenantry_e2e::plugins::bare_plugin("invite_roles"),
        "{}",
    )?;
    let own = portal_invites_only(&app)?;
    for (layer, owner, policy) in [
        (Layer::ServiceProvider, subject.provider, provider),
        (Layer::Organization, subject.org, own),
    ] {
        bind_authorize(&app, layer, owner, policy);
    }
    let input = invite_built("admin", "member")?;
    let decision = app.decide_input(subject, input.clone());
    anyhow::ensure!(decision.allowed() && decision.layers.len() == 3);
    let denied = app.decide_input(subject, invite_built("member", "member")?);
    anyhow::ensure!(!denied.allowed(), "the provider's plugin denies members");
    for _ in 0..2_000 {
        app.decide_input(subject, input.clone());
    }
    let mut samples = Vec::with_capacity(20_000);
    for round in 0..20_000 {
        let fresh = input.clone();
        let t = Instant::now();
        let d = app.decide_input(subject, fresh);
        samples.push(t.elapsed());
        anyhow::ensure!(d.allowed());
        if round % 1_000 == 0 {
            // Lets the recorder write its batches, as it would on a server.
            tokio::task::yield_now().await;
        }
    }
    report(
        "full decision: 3 layers (Rhai + Wasm + Rhai), log on",
        samples,
    );
    Ok(())
}
