//! `tenantry policy test|eval|schema`: policies without a server.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::offline;
use super::output::{self, DENIED, Format, OK};
use crate::policy::engine::Subject;
use crate::policy::fixtures::{self, CaseResult};
use crate::policy::version::BindingKey;
use crate::policy::{Hook, input};

/// What `policy test` runs.
pub struct TestArgs<'a> {
    /// A policy directory, a `.rhai` or `.wasm` file, or a version to upload (`.json`).
    pub path: &'a Path,
    pub hook: Option<&'a str>,
    pub fixtures: Option<&'a Path>,
    pub config: Option<&'a str>,
    pub format: Format,
}

/// Prints each case like `opa test`; exit code 2 when any fails.
pub fn test(args: &TestArgs<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let results = if args.path.is_dir() {
        fixtures::run_dir(&offline::engine()?, args.path).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        let engine = offline::engine()?;
        let hook = offline::hook_of(args.path, args.hook)?;
        let loaded = offline::load(&engine, args.path, hook, offline::config_arg(args.config)?)?;
        let cases = offline::fixtures_for(args.path, hook, args.fixtures, loaded.fixtures)?;
        anyhow::ensure!(
            !cases.is_empty(),
            "no fixtures for `{}`: give --fixtures FILE, or put them in the upload's `fixtures`",
            args.path.display()
        );
        fixtures::run_cases(&engine, &loaded.policy, cases)
    };
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    match args.format {
        Format::Json => output::json(
            out,
            &json!({"passed": results.len() - failed, "failed": failed, "cases": results}),
        )?,
        Format::Text => print_results(&results, failed, out)?,
    }
    Ok(if failed > 0 { DENIED } else { OK })
}

fn print_results(results: &[CaseResult], failed: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    for r in results {
        match &r.failure {
            None => writeln!(out, "PASS {}: {}", r.hook.name(), r.name)?,
            Some(why) => writeln!(out, "FAIL {}: {}\n     {why}", r.hook.name(), r.name)?,
        }
    }
    writeln!(out, "{} passed, {failed} failed", results.len() - failed)?;
    Ok(())
}

/// What `policy eval` runs.
pub struct EvalArgs<'a> {
    pub hook: &'a str,
    pub input: &'a Path,
    /// The policy to evaluate (`.rhai`, `.wasm` or an upload `.json`); default: the platform
    /// file of `policies`.
    pub policy: Option<&'a Path>,
    pub config: Option<&'a str>,
    pub policies: &'a Path,
}

/// Evaluates one hook on one input at the platform layer and prints the trace as JSON; exit
/// code 2 when the decision does not allow.
pub fn eval(args: &EvalArgs<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let hook = Hook::parse(args.hook).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown hook `{}`; one of: authorize, link, share, remote_support",
            args.hook
        )
    })?;
    let text = std::fs::read_to_string(args.input)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", args.input.display()))?;
    let input: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}` is not JSON: {e}", args.input.display()))?;
    input::PolicyInput::parse(hook, &input).map_err(|e| {
        anyhow::anyhow!(
            "`{}` does not fit the `{}` input contract at {e} (see `tenantry policy schema {}`)",
            args.input.display(),
            hook.name(),
            hook.name()
        )
    })?;
    let engine = offline::engine()?;
    let compiled = match args.policy {
        Some(file) => offline::load(&engine, file, hook, offline::config_arg(args.config)?)?.policy,
        None => engine
            .compile_file(hook, args.policies)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    engine.apply(
        BindingKey::platform(hook),
        1,
        Some(std::sync::Arc::new(compiled)),
    );
    let decision = engine.decide(hook, Subject::default(), &input);
    output::json(out, &decision)?;
    Ok(if decision.allowed() { OK } else { DENIED })
}

/// Prints the JSON Schema of `hook`'s input, or (`example`) an input that fits it.
pub fn schema(hook: &str, example: bool, out: &mut dyn Write) -> anyhow::Result<i32> {
    let hook = Hook::parse(hook).ok_or_else(|| {
        anyhow::anyhow!("unknown hook `{hook}`; one of: authorize, link, share, remote_support")
    })?;
    if example {
        output::json(out, &input::PolicyInput::example(hook).to_value())?;
    } else {
        output::json(out, &input::schema(hook))?;
    }
    Ok(OK)
}

/// What `policy diff` compares.
pub struct DiffArgs<'a> {
    pub old: &'a Path,
    pub new: &'a Path,
    pub hook: Option<&'a str>,
    pub old_config: Option<&'a str>,
    pub new_config: Option<&'a str>,
    pub cases: usize,
    pub seed: u64,
    pub format: Format,
}

/// Explores where two versions of a policy decide differently (`policy::explore`) and prints
/// the smallest changes from the example input that show each difference. Exit code 2 when
/// they differ.
pub fn diff(args: &DiffArgs<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
    use crate::policy::budget::CpuBudget;
    use crate::policy::explore::{self, DiffOptions, Literals};
    let hook = offline::hook_of(args.new, args.hook)?;
    let engine = offline::engine()?;
    let load = |path: &Path, config: Option<&str>| -> anyhow::Result<(offline::Loaded, Literals)> {
        let loaded = offline::load(&engine, path, hook, offline::config_arg(config)?)?;
        let literals = offline::literals(path, &loaded.policy)?;
        Ok((loaded, literals))
    };
    let (old, mut literals) = load(args.old, args.old_config)?;
    let (new, more) = load(args.new, args.new_config)?;
    literals.extend(more);
    let report = explore::diff(
        &engine,
        hook,
        &old.policy,
        &new.policy,
        literals,
        DiffOptions {
            cases: args.cases,
            seed: args.seed,
            ..DiffOptions::default()
        },
        &CpuBudget::start(std::time::Duration::from_secs(60)),
    );
    let code = if report.differences.is_empty() {
        OK
    } else {
        DENIED
    };
    if args.format == Format::Json {
        output::json(out, &report)?;
        return Ok(code);
    }
    writeln!(
        out,
        "{} inputs of `{}` evaluated by both{}; {} difference{}",
        report.evaluated,
        hook.name(),
        if report.complete {
            ""
        } else {
            " (stopped at the time budget)"
        },
        report.differences.len(),
        if report.differences.len() == 1 {
            ""
        } else {
            "s"
        }
    )?;
    for d in &report.differences {
        let changes: Vec<String> = d
            .changes
            .iter()
            .map(|(path, value)| format!("{path} = {value}"))
            .collect();
        writeln!(
            out,
            "\n  {}\n    old: {}{}\n    new: {}{}",
            if changes.is_empty() {
                "the example input".to_owned()
            } else {
                changes.join(", ")
            },
            d.old.verdict,
            d.old
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            d.new.verdict,
            d.new
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
        )?;
    }
    if !report.differences.is_empty() {
        writeln!(
            out,
            "\n(changes are from the example input: `tenantry policy schema {} --example`)",
            hook.name()
        )?;
    }
    Ok(code)
}
