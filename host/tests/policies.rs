//! The fixtures in `policies/tests/` pass against the shipped platform policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn platform_policy_fixtures_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let engine = tenantry::policy::PolicyEngine::new(Default::default(), Default::default());
    let results = tenantry::policy::fixtures::run_dir(&engine, &dir).expect("policies load");
    assert!(
        results.len() >= 30,
        "expected the full fixture set, found {}",
        results.len()
    );
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("{}: {}: {f}", r.hook.name(), r.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "failing fixtures:\n{}",
        failures.join("\n")
    );
}
