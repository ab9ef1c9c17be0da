//! The command line: `serve`, `init`; `policy test|eval|schema` offline and `push|versions|rollback|
//! preview|eval --org` on a server; `plugin new|check|componentize|run` offline and
//! `upload|bind` on a server; `backup`, `check`. Each subcommand is a thin call into the library; the authoring commands
//! write to any `Write`, so the tests run them in-process.

pub mod backup;
pub mod compile_cache;
pub mod init;
pub mod migrate_store;
pub mod offline;
pub mod output;
pub mod plugin;
pub mod policy;
pub mod remote;
pub mod scaffold;
pub mod serve;

use output::Format;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tenantry",
    version,
    about = "Multi-tenant organization host with programmable policies"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (data in ./data, policies from ./policies, on 127.0.0.1:8080 by default;
    /// without ./policies, on the policies built into the binary).
    Serve(serve::ServeArgs),
    /// Write the built-in platform policies (with fixtures and input schemas) and a
    /// `tenantry.toml` with every setting at its default into DIR, to edit. Overwrites nothing.
    Init {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Work with policies offline.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with Wasm plugins offline.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Copy a running server's database to PATH, verified before it is kept (operator token).
    Backup {
        /// Where to write the copy; must not exist.
        path: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "TENANTRY_SERVER")]
        server: String,
        /// The operator token.
        #[arg(long, env = "TENANTRY_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Check a database file that no server has open (a backup, a stopped server's file):
    /// record counts and every broken invariant; exit code 1 when any is broken.
    Check { file: PathBuf },
    /// Copy every record of a stopped deployment into an empty store on the other backend
    /// (a database file, or postgres://user:password@host/db), then check its invariants;
    /// exit code 1 when one is broken.
    MigrateStore {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

/// The server a command talks to, and the token it uses.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "TENANTRY_SERVER")]
    pub server: String,
    /// An API token (or the operator token, for the platform layer).
    #[arg(long, env = "TENANTRY_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// The layer a command is about: exactly one of these.
#[derive(Debug, Clone, clap::Args)]
pub struct LayerArgs {
    /// An organization's own layer.
    #[arg(long)]
    pub org: Option<String>,
    /// A provider's layer for all its customers (the provider's id).
    #[arg(long)]
    pub customers: Option<String>,
    /// The platform layer (the operator token).
    #[arg(long)]
    pub platform: bool,
}

impl LayerArgs {
    fn target(self) -> anyhow::Result<remote::LayerTarget> {
        remote::LayerTarget::from_args(self.org, self.customers, self.platform)
    }
}

fn hook_arg(hook: &str) -> anyhow::Result<crate::policy::Hook> {
    crate::policy::Hook::parse(hook).ok_or_else(|| {
        anyhow::anyhow!("unknown hook `{hook}`; one of: authorize, link, share, remote_support")
    })
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a component against the tenantry:policy world; print its name, contract,
    /// hooks, size, SHA-256 and the limits it will run under.
    Check {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Write a new plugin NAME (a Rust crate or an npm package, with the SDK beside it) that
    /// builds, passes its tests and checks without edits.
    New {
        /// The plugin's name: a-z, 0-9 and `-`.
        name: String,
        /// The language: `rust` (a crate) or `js` (an npm package built with componentize-js).
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Where to make the NAME folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Make a component of a core module built for wasm32-unknown-unknown with tenantry-sdk:
    /// capability-free, the fastest kind to run.
    Componentize {
        /// The core module (target/wasm32-unknown-unknown/release/NAME.wasm).
        input: PathBuf,
        /// Where to write the component.
        output: PathBuf,
    },
    /// Upload a component to the server for an organization (or, without --org, the
    /// operator); print its SHA-256.
    Upload {
        file: PathBuf,
        /// The organization it belongs to (its owner or an admin uploads).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Bind a plugin (its SHA-256, or a component file, uploaded first) to a hook of a layer.
    Bind {
        /// The plugin's SHA-256, or a .wasm file.
        plugin: String,
        #[arg(long)]
        hook: String,
        #[command(flatten)]
        layer: LayerArgs,
        /// The binding's config: JSON, or @FILE.
        #[arg(long)]
        config: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Run one hook of a plugin on one input as the server would; print the verdict, reason,
    /// fuel, time and logs. Exit code 0 allow, 2 deny, 1 error.
    Run {
        /// The component (or an upload `.json` naming it).
        file: PathBuf,
        /// authorize, link, share or remote_support.
        #[arg(long)]
        hook: String,
        /// A JSON file with the hook's input (`tenantry policy schema HOOK` says its shape).
        #[arg(long)]
        input: PathBuf,
        /// The binding's config: JSON, or @FILE.
        #[arg(long)]
        config: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run fixtures: those of DIR/tests against the policies in DIR, or those of one policy
    /// (a .rhai or .wasm file, or an upload .json with its own fixtures). Exit code 2 when
    /// any case fails.
    Test {
        /// A policy directory, a .rhai or .wasm file, or an upload .json.
        #[arg(default_value = "policies")]
        path: PathBuf,
        /// The hook (default: the file's name, e.g. authorize.rhai).
        #[arg(long)]
        hook: Option<String>,
        /// A fixture file ({"cases": [...]}); default: the upload's own, or tests/HOOK.json
        /// beside the policy.
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// A plugin's config: JSON, or @FILE.
        #[arg(long)]
        config: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Push a new version of a layer's policy to the server: a .rhai file, a .wasm plugin
    /// (uploaded first) or an upload .json (with fixtures). Exit code 2 when its fixtures fail.
    Push {
        file: PathBuf,
        /// The hook (default: the file's name).
        #[arg(long)]
        hook: Option<String>,
        #[command(flatten)]
        layer: LayerArgs,
        /// A plugin's config: JSON, or @FILE.
        #[arg(long)]
        config: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List a layer's versions of a hook on the server.
    Versions {
        #[arg(long)]
        hook: String,
        #[command(flatten)]
        layer: LayerArgs,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Make an earlier (or later) version of a layer's policy active again.
    Rollback {
        #[arg(long)]
        hook: String,
        #[arg(long)]
        version: u32,
        #[command(flatten)]
        layer: LayerArgs,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Replay an organization's recorded decisions with a candidate (a .rhai, .wasm or upload
    /// .json) in its layer, and say which would change.
    Preview {
        file: PathBuf,
        /// The hook (default: the file's name).
        #[arg(long)]
        hook: Option<String>,
        #[arg(long)]
        org: String,
        /// A plugin's config: JSON, or @FILE.
        #[arg(long)]
        config: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Evaluate one hook on one input and print the trace (JSON): offline at the platform
    /// layer, or with --org as a dry run on the server. Exit code 2 when it does not allow.
    Eval {
        /// authorize, link, share or remote_support.
        #[arg(long)]
        hook: String,
        /// A JSON file with the hook's input (on the server, or --action for authorize).
        #[arg(long)]
        input: Option<PathBuf>,
        /// A dry run on the server for this organization: every layer that applies to it.
        #[arg(long)]
        org: Option<String>,
        /// With --org, for authorize: the action, whose input the server builds for you.
        #[arg(long)]
        action: Option<String>,
        /// With --action: the action's resource, JSON.
        #[arg(long)]
        resource: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "TENANTRY_SERVER")]
        server: String,
        #[arg(long, env = "TENANTRY_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The policy to evaluate: .rhai, .wasm or an upload .json (default: DIR/{hook}.rhai
        /// of --policies).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// A plugin's config: JSON, or @FILE.
        #[arg(long)]
        config: Option<String>,
        #[arg(long, default_value = "policies", env = "TENANTRY_POLICIES")]
        policies: PathBuf,
    },
    /// Explore where two versions of a policy decide differently: inputs generated from the
    /// hook's schema (single changes from the example and from every input that answered
    /// differently, then random combinations), each difference shrunk to the fewest changes. Rhai and Wasm alike. Exit code 2 when they
    /// differ.
    Diff {
        /// The version in force (.rhai, .wasm or upload .json).
        old: PathBuf,
        /// The version to compare it with.
        new: PathBuf,
        /// The hook (default: NEW's file name).
        #[arg(long)]
        hook: Option<String>,
        /// OLD's plugin config: JSON, or @FILE.
        #[arg(long)]
        old_config: Option<String>,
        /// NEW's plugin config: JSON, or @FILE.
        #[arg(long)]
        new_config: Option<String>,
        /// Inputs evaluated at most.
        #[arg(long, default_value_t = 200_000)]
        cases: usize,
        /// The same seed explores the same inputs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the JSON Schema of a hook's input: what every policy is given and what fixtures
    /// must be.
    Schema {
        /// authorize, link, share or remote_support.
        hook: String,
        /// Print an input that fits the schema instead: a start for fixtures and `--input`.
        #[arg(long)]
        example: bool,
    },
}

/// Runs the parsed command line; returns the process exit code.
/// Threads for the async runtime that runs `cli`: what `serve` needs for its store
/// ([`crate::config::Settings::worker_threads`]); one per core for everything else, and for a
/// `serve` whose settings do not load (it reports why once it runs).
pub fn worker_threads(cli: &Cli) -> Option<usize> {
    match &cli.command {
        Command::Serve(args) => serve::settings(args).ok().map(|s| s.worker_threads()),
        _ => None,
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Serve(args) => serve::run(args).await.map(|()| 0),
        Command::Init { dir } => init::init(&dir, out),
        Command::Policy { command } => match command {
            PolicyCommand::Test {
                path,
                hook,
                fixtures,
                config,
                format,
            } => policy::test(
                &policy::TestArgs {
                    path: &path,
                    hook: hook.as_deref(),
                    fixtures: fixtures.as_deref(),
                    config: config.as_deref(),
                    format,
                },
                out,
            ),
            PolicyCommand::Eval {
                hook,
                input,
                org: Some(org),
                action,
                resource,
                server,
                token,
                policy,
                config,
                ..
            } => {
                let token = token.ok_or_else(|| {
                    anyhow::anyhow!("a dry run on the server needs --token or TENANTRY_TOKEN")
                })?;
                let resource = resource
                    .map(|r| serde_json::from_str(&r))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--resource is not JSON: {e}"))?;
                remote::Remote::new(&server, &token, Format::Json)
                    .eval(
                        &remote::EvalRequest {
                            hook: hook_arg(&hook)?,
                            org: &org,
                            input: input.as_deref(),
                            action: action.as_deref(),
                            resource,
                            candidate: policy.as_deref(),
                            config: offline::config_arg(config.as_deref())?,
                        },
                        out,
                    )
                    .await
            }
            PolicyCommand::Eval {
                hook,
                input,
                policy,
                config,
                policies,
                ..
            } => policy::eval(
                &policy::EvalArgs {
                    hook: &hook,
                    input: &input.ok_or_else(|| {
                        anyhow::anyhow!("give --input FILE (or --org for a dry run on the server)")
                    })?,
                    policy: policy.as_deref(),
                    config: config.as_deref(),
                    policies: &policies,
                },
                out,
            ),
            PolicyCommand::Push {
                file,
                hook,
                layer,
                config,
                server,
                format,
            } => {
                let hook = offline::hook_of(&file, hook.as_deref())?;
                remote::Remote::new(&server.server, &server.token, format)
                    .push(
                        &file,
                        hook,
                        &layer.target()?,
                        offline::config_arg(config.as_deref())?,
                        out,
                    )
                    .await
            }
            PolicyCommand::Versions {
                hook,
                layer,
                server,
                format,
            } => {
                remote::Remote::new(&server.server, &server.token, format)
                    .versions(hook_arg(&hook)?, &layer.target()?, out)
                    .await
            }
            PolicyCommand::Rollback {
                hook,
                version,
                layer,
                server,
                format,
            } => {
                remote::Remote::new(&server.server, &server.token, format)
                    .rollback(hook_arg(&hook)?, &layer.target()?, version, out)
                    .await
            }
            PolicyCommand::Preview {
                file,
                hook,
                org,
                config,
                server,
                format,
            } => {
                let hook = offline::hook_of(&file, hook.as_deref())?;
                remote::Remote::new(&server.server, &server.token, format)
                    .preview(
                        &file,
                        hook,
                        &org,
                        offline::config_arg(config.as_deref())?,
                        out,
                    )
                    .await
            }
            PolicyCommand::Schema { hook, example } => policy::schema(&hook, example, out),
            PolicyCommand::Diff {
                old,
                new,
                hook,
                old_config,
                new_config,
                cases,
                seed,
                format,
            } => policy::diff(
                &policy::DiffArgs {
                    old: &old,
                    new: &new,
                    hook: hook.as_deref(),
                    old_config: old_config.as_deref(),
                    new_config: new_config.as_deref(),
                    cases,
                    seed,
                    format,
                },
                out,
            ),
        },
        Command::Plugin { command } => match command {
            PluginCommand::Check { file, format } => plugin::check(&file, format, out),
            PluginCommand::New { name, lang, dir } => scaffold::new(&dir, &name, &lang, out),
            PluginCommand::Upload {
                file,
                org,
                server,
                format,
            } => {
                remote::Remote::new(&server.server, &server.token, format)
                    .upload(&file, org.as_deref(), out)
                    .await
            }
            PluginCommand::Bind {
                plugin,
                hook,
                layer,
                config,
                server,
                format,
            } => {
                remote::Remote::new(&server.server, &server.token, format)
                    .bind(
                        &plugin,
                        hook_arg(&hook)?,
                        &layer.target()?,
                        offline::config_arg(config.as_deref())?,
                        out,
                    )
                    .await
            }
            PluginCommand::Componentize { input, output } => {
                plugin::componentize(&input, &output, out)
            }
            PluginCommand::Run {
                file,
                hook,
                input,
                config,
                format,
            } => plugin::run(
                &plugin::RunArgs {
                    file: &file,
                    hook: &hook,
                    input: &input,
                    config: config.as_deref(),
                    format,
                },
                out,
            ),
        },
        Command::Backup {
            path,
            server,
            token,
        } => {
            backup::backup(backup::BackupArgs {
                path: &path,
                server: &server,
                token: &token,
            })
            .await
        }
        Command::Check { file } => backup::check(&file),
        Command::MigrateStore { from, to } => migrate_store::run(&from, &to).await,
    }
}
