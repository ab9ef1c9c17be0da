//! Policy fixtures: (input, expected verdict) cases that a policy must pass, run by
//! `tenantry policy test`, by `cargo test`, and (later) before a new version is activated.
//!
//! A fixture file is `tests/{hook}.json`: `{"cases": [{"name", "input", "expect",
//! "reason_contains"?, "minutes"?}]}`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::budget::CpuBudget;
use super::compiled::CompiledPolicy;
use super::engine::PolicyEngine;
use super::hook::Hook;
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub input: serde_json::Value,
    pub expect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

/// A fixture case a policy did not pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseFailure {
    pub case: String,
    pub expected: String,
    pub got: String,
    pub reason: String,
}

/// Checks every case's input against `hook`'s contract ([`super::input`]); returns each bad
/// one as (`fixtures[i].input.<path>`, what is wrong).
pub fn check_inputs(hook: Hook, cases: &[Case]) -> Vec<(String, String)> {
    cases
        .iter()
        .enumerate()
        .filter_map(|(i, case)| {
            super::input::PolicyInput::parse(hook, &case.input)
                .err()
                .map(|e| {
                    (
                        e.path_under(&format!("fixtures[{i}].input")),
                        format!("case `{}`: {}", case.name, e.message),
                    )
                })
        })
        .collect()
}

/// Runs `cases` against one policy (as a single layer); returns the failures.
pub fn check(engine: &PolicyEngine, policy: &CompiledPolicy, cases: &[Case]) -> Vec<CaseFailure> {
    cases
        .iter()
        .filter_map(|case| run_case(engine, policy, case))
        .collect()
}

/// How a fixture gate within a CPU budget ended.
#[derive(Debug)]
pub enum GateOutcome {
    /// Every case ran; these failed (none: the version may be activated).
    Ran(Vec<CaseFailure>),
    /// The budget ran out after `evaluated` cases.
    OverBudget { evaluated: usize },
}

/// [`check`], stopping once `budget` is spent: a gate's cost is bounded whatever the policy
/// and its fixtures do.
pub fn check_within(
    engine: &PolicyEngine,
    policy: &CompiledPolicy,
    cases: &[Case],
    budget: &CpuBudget,
) -> GateOutcome {
    let mut failures = Vec::new();
    for (evaluated, case) in cases.iter().enumerate() {
        if budget.exceeded() {
            return GateOutcome::OverBudget { evaluated };
        }
        failures.extend(run_case(engine, policy, case));
    }
    if budget.exceeded() {
        return GateOutcome::OverBudget {
            evaluated: cases.len(),
        };
    }
    GateOutcome::Ran(failures)
}

fn run_case(engine: &PolicyEngine, policy: &CompiledPolicy, case: &Case) -> Option<CaseFailure> {
    let fail = |got: String, reason: String| {
        Some(CaseFailure {
            case: case.name.clone(),
            expected: case.expect.clone(),
            got,
            reason,
        })
    };
    match engine.evaluate(policy, &case.input) {
        Err(fault) => fail("error".into(), fault.to_string()),
        Ok(answer) if answer.verdict.name() != case.expect => fail(
            answer.verdict.name().into(),
            answer.reason.unwrap_or_default(),
        ),
        Ok(answer) => {
            check_details(case, &answer).and_then(|why| fail(answer.verdict.name().into(), why))
        }
    }
}

/// The fixtures of `dir/tests/{hook}.json`, if the file exists.
pub fn load_cases(dir: &Path, hook: Hook) -> Result<Vec<Case>> {
    let file = dir.join("tests").join(format!("{}.json", hook.name()));
    if !file.exists() {
        return Ok(Vec::new());
    }
    read_cases(&file)
}

/// The cases of a fixture file (`{"cases": [...]}`).
pub fn read_cases(file: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Policy(format!("cannot read `{}`: {e}", file.display())))?;
    parse_cases(&text, &file.display().to_string())
}

/// The cases of a fixture file's text; `name` says where it came from in errors.
pub fn parse_cases(text: &str, name: &str) -> Result<Vec<Case>> {
    let fixtures: FixtureFile =
        serde_json::from_str(text).map_err(|e| Error::Policy(format!("`{name}`: {e}")))?;
    Ok(fixtures.cases)
}

/// The result of one case.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub hook: Hook,
    pub name: String,
    /// None when it passed; otherwise what went wrong.
    pub failure: Option<String>,
}

/// Runs every fixture under `dir/tests` against the policies in `dir`, on `engine`.
pub fn run_dir(engine: &PolicyEngine, dir: &Path) -> Result<Vec<CaseResult>> {
    let mut results = Vec::new();
    for hook in Hook::ALL {
        let cases = load_cases(dir, hook)?;
        if cases.is_empty() {
            continue;
        }
        let policy = engine.compile_file(hook, dir)?;
        results.extend(run_cases(engine, &policy, cases));
    }
    Ok(results)
}

/// Runs `cases` against `policy` and says of each whether it passed: its input fits the
/// hook's contract, and the policy answers as expected.
pub fn run_cases(
    engine: &PolicyEngine,
    policy: &CompiledPolicy,
    cases: Vec<Case>,
) -> Vec<CaseResult> {
    let hook = policy.hook;
    let failures = check(engine, policy, &cases);
    let bad_inputs = check_inputs(hook, &cases);
    cases
        .into_iter()
        .enumerate()
        .map(|(i, case)| {
            let prefix = format!("fixtures[{i}].");
            let bad_input = bad_inputs
                .iter()
                .find(|(path, _)| path.starts_with(&prefix))
                .map(|(path, why)| {
                    format!(
                        "the input does not fit the `{}` contract at `{}`: {why}",
                        hook.name(),
                        path.trim_start_matches(&prefix)
                    )
                });
            let failure = bad_input.or_else(|| {
                failures
                    .iter()
                    .find(|f| f.case == case.name)
                    .map(|f| format!("expected `{}`, got `{}` ({})", f.expected, f.got, f.reason))
            });
            CaseResult {
                hook,
                name: case.name,
                failure,
            }
        })
        .collect()
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
