//! `tenantry plugin check|componentize|run`: plugins without a server.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::output::{self, DENIED, ERROR, Format, OK};
use super::{compile_cache, offline};
use crate::policy::compiled::Code;
use crate::policy::input::PolicyInput;
use crate::policy::wasm::{WasmRuntime, initial_memory_bytes};

/// Prints the plugin's identity and limits; exit code 1 when it is not a valid plugin.
pub fn check(file: &Path, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let bytes = std::fs::read(file)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", file.display()))?;
    let limits = offline::settings()?.wasm;
    let runtime = WasmRuntime::new(limits).map_err(|e| anyhow::anyhow!(e))?;
    let plugin =
        match compile_cache::compile(&runtime, &bytes, compile_cache::default_dir().as_deref()) {
            Ok(plugin) => plugin,
            Err(fault) => {
                match format {
                    Format::Json => output::json(
                        out,
                        &json!({"valid": false, "error": fault.kind, "message": fault.message}),
                    )?,
                    Format::Text => writeln!(
                        out,
                        "invalid plugin `{}`: {}: {}",
                        file.display(),
                        fault.kind,
                        fault.message
                    )?,
                }
                return Ok(ERROR);
            }
        };
    let hooks: Vec<&str> = plugin.hooks.iter().map(|h| h.name()).collect();
    let initial_memory = initial_memory_bytes(&bytes);
    if format == Format::Json {
        output::json(
            out,
            &json!({
                "valid": true,
                "sha256": plugin.sha256,
                "size": plugin.size,
                "contract": plugin.contract,
                "metadata": plugin.metadata,
                "hooks": hooks,
                "imports_wasi": plugin.imports_wasi,
                "initial_memory_bytes": initial_memory.as_ref().ok(),
                "limits": limits,
            }),
        )?;
        return Ok(OK);
    }
    writeln!(out, "plugin   {}", file.display())?;
    if let Some(meta) = &plugin.metadata {
        writeln!(out, "name     {} {}", meta.name, meta.version)?;
    }
    writeln!(out, "contract {}", plugin.contract)?;
    writeln!(out, "sha256   {}", plugin.sha256)?;
    writeln!(out, "size     {} bytes", plugin.size)?;
    writeln!(out, "hooks    {}", hooks.join(", "))?;
    match &initial_memory {
        Ok(bytes) => writeln!(
            out,
            "memory   starts at {} KiB, scanned after every call",
            bytes.div_ceil(1 << 10)
        )?,
        Err(fault) => writeln!(out, "memory   unknown ({})", fault.message)?,
    }
    writeln!(
        out,
        "limits   fuel {} per call, deadline {} ms, memory {} bytes, table {} elements,",
        limits.fuel, limits.deadline_ms, limits.max_memory_bytes, limits.max_table_elements
    )?;
    writeln!(
        out,
        "         input {} bytes, output {} bytes, component {} bytes",
        limits.max_input_bytes, limits.max_output_bytes, limits.max_module_bytes
    )?;
    Ok(OK)
}

/// Writes the component made of the core module `input` (a `wasm32-unknown-unknown` build
/// with tenantry-sdk) to `output`; exit code 1 when it cannot be made.
pub fn componentize(input: &Path, output: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let bytes = std::fs::read(input)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", input.display()))?;
    if !wasmparser::Parser::is_core_wasm(&bytes) {
        writeln!(
            out,
            "`{}` is not a core WebAssembly module (a component already? `tenantry plugin check` it)",
            input.display()
        )?;
        return Ok(ERROR);
    }
    match crate::policy::wasm::componentize(&bytes) {
        Ok(component) => {
            std::fs::write(output, &component)
                .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", output.display()))?;
            writeln!(
                out,
                "wrote {} ({} bytes); check it with `tenantry plugin check {}`",
                output.display(),
                component.len(),
                output.display()
            )?;
            Ok(OK)
        }
        Err(e) => {
            writeln!(out, "{e}")?;
            Ok(ERROR)
        }
    }
}

/// What `plugin run` runs.
pub struct RunArgs<'a> {
    pub file: &'a Path,
    pub hook: &'a str,
    pub input: &'a Path,
    pub config: Option<&'a str>,
    pub format: Format,
}

/// Runs one hook of a plugin on one input, as the server would (same limits, a fresh
/// instance), and prints the verdict, its reason, the fuel and time it took and what it
/// logged. Exit code 0 when it allows or grants, 2 when it does not, 1 when it fails.
pub fn run(args: &RunArgs<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let hook = offline::hook_of(args.input, Some(args.hook))?;
    let text = std::fs::read_to_string(args.input)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", args.input.display()))?;
    let input: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}` is not JSON: {e}", args.input.display()))?;
    PolicyInput::parse(hook, &input).map_err(|e| {
        anyhow::anyhow!(
            "`{}` does not fit the `{}` input contract at {e} (see `tenantry policy schema {}`)",
            args.input.display(),
            hook.name(),
            hook.name()
        )
    })?;
    let engine = offline::engine()?;
    let loaded = offline::load(&engine, args.file, hook, offline::config_arg(args.config)?)?;
    let Code::Wasm { config, .. } = &loaded.policy.code else {
        anyhow::bail!("`{}` is not a plugin", args.file.display());
    };
    let (wasm, plugin) = engine
        .plugin(&loaded.policy.sha256)
        .map_err(|f| anyhow::anyhow!(f.message))?;
    let started = Instant::now();
    let (answer, report) = wasm.evaluate(&plugin, hook, &input, config);
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let code = match &answer {
        Ok(a)
            if matches!(
                a.verdict,
                crate::policy::verdict::Verdict::Allow | crate::policy::verdict::Verdict::Grant
            ) =>
        {
            OK
        }
        Ok(_) => DENIED,
        Err(_) => ERROR,
    };
    if args.format == Format::Json {
        let (answer, error) = match &answer {
            Ok(a) => (json!(a), serde_json::Value::Null),
            Err(f) => (
                serde_json::Value::Null,
                json!({"kind": f.kind, "message": f.message}),
            ),
        };
        output::json(
            out,
            &json!({"answer": answer, "error": error, "fuel": report.fuel, "micros": micros,
                    "logs": report.logs, "dropped_logs": report.dropped_logs}),
        )?;
        return Ok(code);
    }
    match &answer {
        Ok(a) => {
            writeln!(out, "verdict  {}", a.verdict.name())?;
            if let Some(reason) = &a.reason {
                writeln!(out, "reason   {reason}")?;
            }
            if let Some(minutes) = a.minutes {
                writeln!(out, "minutes  {minutes}")?;
            }
        }
        Err(f) => writeln!(out, "error    {}: {}", f.kind, f.message)?,
    }
    writeln!(
        out,
        "fuel     {} of {}",
        report.fuel,
        engine.wasm().map(|w| w.limits.fuel).unwrap_or_default()
    )?;
    writeln!(
        out,
        "time     {micros} µs (a fresh instance, as every call)"
    )?;
    for line in &report.logs {
        writeln!(out, "log      {line}")?;
    }
    if report.dropped_logs > 0 {
        writeln!(
            out,
            "log      ({} more lines not kept)",
            report.dropped_logs
        )?;
    }
    Ok(code)
}
