//! Long reliability runs against the real `tenantry` binary; `reliability/run` builds the
//! binaries and runs them, RELIABILITY.md has the figures.
//!
//! `crash`: concurrent writes, SIGKILL at a random moment, restart on the same file. Each round: start the server (which must open the file without manual repair), take an
//! online backup through `GET /v1/platform/backup`, check that the copy holds every write
//! acknowledged in earlier rounds and breaks no invariant, then drive writes from many
//! clients and kill the process mid-flight. A final restart checks the last round.
//!
//! `connections`, `full-disk`, `hostile`, `schemathesis`, `soak`, `uploads`: see their modules.

mod connections;
mod full_disk;
mod hostile;
mod latency;
mod schemathesis;
mod secrets;
mod server;
mod soak;
mod tenants;
mod uploads;
mod verify;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
struct Cli {
    /// The server binary to run.
    #[arg(long, default_value = "target/debug/tenantry")]
    tenantry: PathBuf,
    #[command(subcommand)]
    run: Run,
}

#[derive(Debug, Subcommand)]
enum Run {
    /// SIGKILL rounds under concurrent writes.
    Crash(CrashArgs),
    /// Fill a small tmpfs data directory, check the refusal, grow it, check the recovery.
    FullDisk {
        /// The tmpfs size at the start.
        #[arg(long, default_value_t = 16)]
        mib: u32,
    },
    /// Hostile plugins and scripts bound by one tenant while a neighbour measures latency.
    Hostile,
    /// The costliest policy uploads and previews of one tenant while a neighbour writes.
    Uploads,
    /// Generated requests against /openapi.json as the operator and as a member.
    Schemathesis {
        /// The schemathesis executable (reliability/run installs one in target/).
        #[arg(long, default_value = "schemathesis")]
        program: PathBuf,
        /// Generated cases per operation and phase.
        #[arg(long, default_value_t = 30)]
        examples: u32,
    },
    /// Silent, slow-loris and excess connections against a behaving client.
    Connections,
    /// Sustained load with the decision log and the outbox at their bounds: the file must stop growing.
    Soak {
        #[arg(long, default_value_t = 4)]
        minutes: u64,
        /// Only reads (decisions), no writes (audit entries, events): the file must stop growing.
        #[arg(long)]
        reads_only: bool,
    },
}

#[derive(Debug, clap::Args)]
struct CrashArgs {
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// Concurrent writing clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seeds the kill moments and the mix of writes (default: the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the data in a new database on the PostgreSQL server `TENANTRY_TEST_POSTGRES`
    /// names, with a second server on it that must keep serving through every kill.
    #[arg(long)]
    postgres: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.run {
        Run::Crash(args) => crash(&cli.tenantry, args).await,
        Run::FullDisk { mib } => full_disk::run(&cli.tenantry, mib).await,
        Run::Hostile => hostile::run(&cli.tenantry).await,
        Run::Uploads => uploads::run(&cli.tenantry).await,
        Run::Schemathesis { program, examples } => {
            schemathesis::run(&cli.tenantry, &program, examples).await
        }
        Run::Soak {
            minutes,
            reads_only,
        } => soak::run(minutes, reads_only).await,
        Run::Connections => connections::run(&cli.tenantry).await,
    }
}

async fn crash(binary: &std::path::Path, args: CrashArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(workload::clock_seed);
    let mut rng = workload::Rng::new(seed);
    let data = tempfile::tempdir()?;
    println!(
        "crash rounds: {} rounds, {} clients, seed {seed}",
        args.rounds, args.clients
    );
    let mut acked = verify::Acked::default();
    let mut tenants = None;
    let mut totals = verify::Totals::default();
    // On PostgreSQL: the database, and a second server beside the one killed (same key).
    let shared = match args.postgres {
        true => {
            let admin = tenantry::storage::postgres::scratch::test_server().ok_or_else(|| {
                anyhow::anyhow!(
                    "--postgres needs {}",
                    tenantry::storage::postgres::scratch::TEST_SERVER_VARIABLE
                )
            })?;
            let url = tenantry::storage::postgres::scratch::create_database(&admin)?;
            let config = format!(
                "database_url = {url:?}\nkey_file = {:?}\n",
                data.path().join("server.key").display().to_string()
            );
            let standby_dir = tempfile::tempdir()?;
            println!("on PostgreSQL, with a second server that must keep serving");
            Some((url, config, standby_dir))
        }
        false => None,
    };
    let config = shared.as_ref().map_or("", |(_, config, _)| config.as_str());
    let mut standby = None;
    for round in 0..=args.rounds {
        let server = server::Server::start_with(
            binary,
            data.path(),
            &data.path().join("server.log"),
            config,
        )
        .await?;
        if let Some((_, config, dir)) = &shared
            && standby.is_none()
        {
            standby = Some(
                server::Server::start_with(
                    binary,
                    dir.path(),
                    &dir.path().join("server.log"),
                    config,
                )
                .await?,
            );
        }
        let checked = match &shared {
            Some((url, _, _)) => verify::check_database(url, &acked, &server).await?,
            None => verify::check_backup(&server, &acked, data.path(), round).await?,
        };
        if let Some(standby) = &standby {
            let ready = reqwest::get(format!("{}/readyz", standby.base)).await?;
            anyhow::ensure!(
                ready.status().is_success(),
                "the second server stopped serving: {}",
                ready.status()
            );
        }
        totals.add(&checked);
        println!(
            "round {round:>3}: started in {:>5} ms, the store holds {} of {} acknowledged writes, {} lost, {} violations, {} tokens in the file",
            server.startup.as_millis(),
            checked.present,
            checked.expected,
            checked.lost.len(),
            checked.violations.len(),
            checked.leaked,
        );
        for line in checked.lost.iter().chain(&checked.violations) {
            println!("    {line}");
        }
        if round == args.rounds {
            server.kill()?;
            break;
        }
        let pool = match tenants.take() {
            Some(pool) => pool,
            None => workload::Tenants::create(&server.base, args.clients).await?,
        };
        let run_for = Duration::from_millis(300 + rng.below(2_700));
        let base = server.base.clone();
        let outcome = workload::drive(&base, &pool, round, rng.next_u64(), run_for, || {
            server.kill()
        })
        .await?;
        let acked_now = outcome.acked.len();
        acked.extend(outcome.acked);
        totals.requests += outcome.requests;
        totals.interrupted += outcome.interrupted;
        totals.server_errors += outcome.server_errors;
        println!(
            "           killed after {} ms: {} requests, {acked_now} acknowledged writes, {} refused, {} cut off",
            run_for.as_millis(),
            outcome.requests,
            outcome.refused,
            outcome.interrupted
        );
        tenants = Some(pool);
    }
    let log = std::fs::read(data.path().join("server.log"))?;
    let logged = secrets::count_tokens(&log);
    println!("server log: {} bytes, {logged} tokens in it", log.len());
    totals.leaked += logged;
    println!(
        "total: {} rounds, {} requests, {} acknowledged writes checked, {} cut off by a kill, {} server errors, {} lost, {} invariant violations, {} tokens leaked, slowest start {} ms",
        args.rounds,
        totals.requests,
        acked.len(),
        totals.interrupted,
        totals.server_errors,
        totals.lost,
        totals.violations,
        totals.leaked,
        totals.slowest_start_ms
    );
    if totals.lost + totals.violations + totals.server_errors + totals.leaked > 0 {
        anyhow::bail!("writes were lost, invariants broken, requests failed or tokens leaked");
    }
    Ok(())
}

/// A JSON string field as text (empty when absent): the harnesses read ids and tokens this way.
fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
