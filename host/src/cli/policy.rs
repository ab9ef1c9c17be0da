//! `tenantry policy test` and `tenantry policy eval`.

use std::path::Path;

use crate::policy::engine::Subject;
use crate::policy::fixtures;
use crate::policy::rhai_policy::RhaiLimits;
use crate::policy::version::BindingKey;
use crate::policy::{Hook, PolicyEngine};

/// Prints each case like `opa test`; exit code 1 when any fails.
pub fn test(dir: &Path) -> anyhow::Result<i32> {
    let results = fixtures::run_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut failed = 0;
    for r in &results {
        match &r.failure {
            None => println!("PASS {}: {}", r.hook.name(), r.name),
            Some(why) => {
                failed += 1;
                println!("FAIL {}: {}\n     {why}", r.hook.name(), r.name);
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(i32::from(failed > 0))
}

/// Evaluates one hook on one input at the platform layer and prints the trace as JSON.
pub fn eval(
    hook: &str,
    input: &Path,
    policy: Option<&Path>,
    policies: &Path,
) -> anyhow::Result<i32> {
    let hook = Hook::parse(hook).ok_or_else(|| {
        anyhow::anyhow!("unknown hook `{hook}`; one of: authorize, link, share, remote_support")
    })?;
    let input: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    let engine = PolicyEngine::new(
        RhaiLimits::default(),
        crate::policy::wasm::WasmLimits::default(),
    );
    let compiled = match policy {
        Some(file) => {
            let source = std::fs::read_to_string(file)?;
            engine
                .runtime()
                .compile(hook, &file.display().to_string(), &source)
                .map_err(|e| anyhow::anyhow!(e))?
        }
        None => engine
            .compile_file(hook, policies)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    engine.apply(
        BindingKey::platform(hook),
        1,
        Some(std::sync::Arc::new(compiled)),
    );
    let decision = engine.decide(hook, Subject::default(), &input);
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(i32::from(!decision.allowed()))
}
