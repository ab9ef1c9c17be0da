//! `tenantry serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TENANTRY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the database file (tenantry.redb) and the decision log's beside it.
    #[arg(long, env = "TENANTRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the data in PostgreSQL (postgres://user:password@host:port/database) instead of
    /// the embedded file; several servers may share it.
    #[arg(long, env = "TENANTRY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory of the platform policies ({hook}.rhai).
    #[arg(long, env = "TENANTRY_POLICIES")]
    pub policies: Option<PathBuf>,
    /// A TOML file overriding the defaults (TENANTRY_* variables override it in turn).
    #[arg(long, env = "TENANTRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long)]
    pub log_json: bool,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The settings `serve` runs with: the file and the environment, then the command line.
pub fn settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        settings.data_dir.clone_from(dir);
    }
    if let Some(url) = &args.database_url {
        settings.database_url = Some(url.clone());
    }
    if let Some(dir) = &args.policies {
        settings.policies.clone_from(dir);
    }
    settings.log_json |= args.log_json;
    Ok(settings)
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = settings(&args)?;
    init_logging(settings.log_json);
    let listen = settings.listen;
    let database = settings.database_label();
    let built = App::build(settings)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(token) = &built.new_operator_token {
        // The one time this token is ever shown: only its hash is stored.
        println!(
            "operator token (shown once, keep it safe): {}",
            token.expose()
        );
    }
    if built.app.settings.smtp.enabled() {
        tracing::info!("e-mail: on ([smtp] url); invitation tokens go to the invitees only");
    } else {
        tracing::warn!(
            "e-mail: off (no [smtp] url); invitation tokens are answered to whoever invites, \
             who must hand them over"
        );
    }
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    tracing::info!(%address, %database, "tenantry is listening");
    // On stdout after the token line, so a script reading stdout sees both, in order.
    println!("listening on http://{address}");
    crate::api::serve(built.app, listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM. The handlers are installed here, before the caller announces its address:
/// a signal that arrives between "listening on" and the first poll of the returned future must
/// shut the server down gracefully, not kill it with the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down; finishing requests in flight");
    })
}
