//! A policy from local files, for the commands that run one without a server (`policy test`,
//! `policy eval`, `policy diff`, `plugin run`): a Rhai file, a plugin component, or a version
//! as it would be uploaded (`{source | plugin, config, fixtures}`, the plugin as a path to its
//! component relative to the JSON file).

use std::path::{Path, PathBuf};

use super::compile_cache;
use crate::config::Settings;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;

use crate::policy::compiled::{Code, CompiledPolicy};
use crate::policy::explore::Literals;
use crate::policy::fixtures::{self, Case};
use crate::policy::{Hook, PolicyEngine};

/// A version as `PUT .../policies/{hook}` takes it, with `plugin` naming a local file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadFile {
    source: Option<String>,
    plugin: Option<PathBuf>,
    config: Option<serde_json::Value>,
    #[serde(default)]
    fixtures: Vec<Case>,
}

/// A policy loaded from files, with the fixtures that came with it.
pub struct Loaded {
    pub policy: CompiledPolicy,
    pub fixtures: Vec<Case>,
}

/// An engine with the server's default limits.
/// The settings a server started here would read (`TENANTRY_CONFIG` and the `TENANTRY_*`
/// variables): offline commands run policies under the same limits, so what passes here
/// passes there. (`--config` of these commands is a plugin's config, not this file.)
pub fn settings() -> anyhow::Result<Settings> {
    let file = std::env::var_os("TENANTRY_CONFIG").map(PathBuf::from);
    Settings::load(file.as_deref())
}

/// A policy engine under [`settings`]' limits.
pub fn engine() -> anyhow::Result<PolicyEngine> {
    let settings = settings()?;
    Ok(PolicyEngine::new(settings.rhai, settings.wasm))
}

/// The hook: `--hook`, else the file's stem when it names one (`authorize.rhai`).
pub fn hook_of(path: &Path, hook: Option<&str>) -> anyhow::Result<Hook> {
    let name = match hook {
        Some(h) => h.to_owned(),
        None => path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned(),
    };
    Hook::parse(&name).ok_or_else(|| {
        anyhow!(
            "which hook? `{name}` is not one; give --hook authorize, link, share or remote_support"
        )
    })
}

/// The config given on the command line: JSON text, or `@FILE`.
pub fn config_arg(config: Option<&str>) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(text) = config else {
        return Ok(None);
    };
    let text = match text.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("cannot read `{file}`"))?
        }
        None => text.to_owned(),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| anyhow!("--config is not JSON: {e}"))
}

/// Loads `path` as `hook`'s policy: `.rhai`, `.wasm` (with `config`) or an upload `.json`.
pub fn load(
    engine: &PolicyEngine,
    path: &Path,
    hook: Hook,
    config: Option<serde_json::Value>,
) -> anyhow::Result<Loaded> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension {
        "rhai" => {
            let source = read_text(path)?;
            let policy = engine
                .runtime()
                .compile(hook, &path.display().to_string(), &source)
                .map_err(|e| anyhow!(e))?;
            Ok(Loaded {
                policy,
                fixtures: Vec::new(),
            })
        }
        "wasm" => Ok(Loaded {
            policy: plugin(engine, path, hook, config)?,
            fixtures: Vec::new(),
        }),
        "json" => {
            let upload: UploadFile = serde_json::from_str(&read_text(path)?)
                .with_context(|| format!("`{}` is not a version to upload", path.display()))?;
            let policy = match (upload.source, upload.plugin) {
                (Some(source), None) => engine
                    .runtime()
                    .compile(hook, &path.display().to_string(), &source)
                    .map_err(|e| anyhow!(e))?,
                (None, Some(component)) => {
                    let component = path.parent().unwrap_or(Path::new(".")).join(component);
                    plugin(engine, &component, hook, config.or(upload.config))?
                }
                _ => bail!(
                    "`{}` needs either `source` (Rhai) or `plugin` (the component's path)",
                    path.display()
                ),
            };
            Ok(Loaded {
                policy,
                fixtures: upload.fixtures,
            })
        }
        _ => bail!(
            "`{}`: give a `.rhai` policy, a `.wasm` plugin, or a `.json` version to upload",
            path.display()
        ),
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// A component as `hook`'s policy with `config` (default `{}`), checked like a binding is.
fn plugin(
    engine: &PolicyEngine,
    path: &Path,
    hook: Hook,
    config: Option<serde_json::Value>,
) -> anyhow::Result<CompiledPolicy> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let wasm = engine.wasm().map_err(|e| anyhow!(e))?;
    let plugin = compile_cache::compile(wasm, &bytes, compile_cache::default_dir().as_deref())
        .map_err(|f| anyhow!("`{}` is not a valid plugin: {f}", path.display()))?;
    if !plugin.hooks.contains(&hook) {
        bail!(
            "`{}` does not implement `{}` (it implements: {})",
            path.display(),
            hook.name(),
            plugin
                .hooks
                .iter()
                .map(|h| h.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let config = config.map_or_else(|| "{}".to_owned(), |c| c.to_string());
    wasm.check_config(&plugin, &config)
        .map_err(|why| anyhow!("the plugin refuses this config: {why}"))?;
    Ok(engine.keep_plugin(hook, plugin, config))
}

/// Fixtures from `--fixtures FILE`, else those that came with the policy, else (for a file in
/// a policy directory) `tests/{hook}.json` beside it.
pub fn fixtures_for(
    path: &Path,
    hook: Hook,
    given: Option<&Path>,
    loaded: Vec<Case>,
) -> anyhow::Result<Vec<Case>> {
    if let Some(file) = given {
        return fixtures::read_cases(file).map_err(|e| anyhow!("{e}"));
    }
    if !loaded.is_empty() {
        return Ok(loaded);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    fixtures::load_cases(dir, hook).map_err(|e| anyhow!("{e}"))
}

/// What a policy file mentions, for `policy diff`'s generated inputs: a Rhai source's literals,
/// a component's constant strings (an upload `.json`'s source or component, and its config).
pub fn literals(path: &Path, policy: &CompiledPolicy) -> anyhow::Result<Literals> {
    let config = match &policy.code {
        Code::Wasm { config, .. } => config.as_str(),
        Code::Rhai(_) => "",
    };
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    Ok(match extension {
        "rhai" => Literals::of_source(&read_text(path)?),
        "wasm" => Literals::of_plugin(Some(&std::fs::read(path)?), config),
        _ => {
            let upload: UploadFile = serde_json::from_str(&read_text(path)?)?;
            match (upload.source, upload.plugin) {
                (Some(source), _) => Literals::of_source(&source),
                (None, Some(component)) => {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    Literals::of_plugin(Some(&std::fs::read(dir.join(component))?), config)
                }
                (None, None) => Literals::default(),
            }
        }
    })
}
