//! The command line: `serve`, `policy test|eval`, `plugin check`, `backup`, `check`. Each subcommand is a thin call
//! into the library.

pub mod backup;
pub mod plugin;
pub mod policy;
pub mod serve;

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
    /// Run the server (data in ./data, policies from ./policies, on 127.0.0.1:8080 by default).
    Serve(serve::ServeArgs),
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
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a component against the tenantry:policy world; print its hooks, size, SHA-256
    /// and the limits it will run under.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the fixtures in DIR/tests against the policies in DIR and print each case.
    Test {
        /// Policy directory.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
    /// Evaluate one hook on one input and print the trace.
    Eval {
        /// authorize, link, share or remote_support.
        #[arg(long)]
        hook: String,
        /// A JSON file with the hook's input.
        #[arg(long)]
        input: PathBuf,
        /// The policy file to evaluate (default: DIR/{hook}.rhai of --policies).
        #[arg(long)]
        policy: Option<PathBuf>,
        #[arg(long, default_value = "policies", env = "TENANTRY_POLICIES")]
        policies: PathBuf,
    },
}

/// Runs the parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await.map(|()| 0),
        Command::Policy {
            command: PolicyCommand::Test { dir },
        } => policy::test(&dir),
        Command::Plugin {
            command: PluginCommand::Check { file },
        } => plugin::check(&file),
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
        Command::Policy {
            command:
                PolicyCommand::Eval {
                    hook,
                    input,
                    policy,
                    policies,
                },
        } => policy::eval(&hook, &input, policy.as_deref(), &policies),
    }
}
