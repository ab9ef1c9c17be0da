//! Policy fixtures: (input, expected verdict) cases that a policy must pass, run by
//! `tenantry policy test`, by `cargo test`, and (later) before a new version is activated.
//!
//! A fixture file is `tests/{hook}.json`: `{"cases": [{"name", "input", "expect",
//! "reason_contains"?, "minutes"?}]}`.

use std::path::Path;

use serde::Deserialize;

use super::engine::PolicyEngine;
use super::hook::Hook;
use super::rhai_policy::RhaiLimits;
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub input: serde_json::Value,
    pub expect: String,
    #[serde(default)]
    pub reason_contains: Option<String>,
    #[serde(default)]
    pub minutes: Option<u32>,
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub hook: Hook,
    pub name: String,
    /// None when it passed; otherwise what went wrong.
    pub failure: Option<String>,
}

/// Runs every fixture under `dir/tests` against the policies in `dir`.
pub fn run_dir(dir: &Path) -> Result<Vec<CaseResult>> {
    let engine = PolicyEngine::new(RhaiLimits::default());
    let mut results = Vec::new();
    for hook in Hook::ALL {
        let file = dir.join("tests").join(format!("{}.json", hook.name()));
        if !file.exists() {
            continue;
        }
        let policy = engine.compile_file(hook, dir)?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::Policy(format!("cannot read `{}`: {e}", file.display())))?;
        let fixtures: FixtureFile = serde_json::from_str(&text)
            .map_err(|e| Error::Policy(format!("`{}`: {e}", file.display())))?;
        for case in fixtures.cases {
            let failure = match engine.runtime().evaluate(&policy, &case.input) {
                Err(fault) => Some(format!("expected `{}`, got error {fault}", case.expect)),
                Ok(answer) if answer.verdict.name() != case.expect => Some(format!(
                    "expected `{}`, got `{}` ({})",
                    case.expect,
                    answer.verdict.name(),
                    answer.reason.unwrap_or_default()
                )),
                Ok(answer) => check_details(&case, &answer),
            };
            results.push(CaseResult {
                hook,
                name: case.name,
                failure,
            });
        }
    }
    Ok(results)
}

fn check_details(case: &Case, answer: &super::verdict::Answer) -> Option<String> {
    if let Some(part) = &case.reason_contains {
        let reason = answer.reason.as_deref().unwrap_or_default();
        if !reason.contains(part.as_str()) {
            return Some(format!("reason `{reason}` does not contain `{part}`"));
        }
    }
    if case.minutes.is_some() && case.minutes != answer.minutes {
        return Some(format!(
            "expected {:?} minutes, got {:?}",
            case.minutes, answer.minutes
        ));
    }
    None
}
