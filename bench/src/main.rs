//! `cargo run --release -p tenantry-bench -- [all|peers|layers|log|instantiate|reload|writes|http|scale]`
//! (`peers NAME` measures only the engines whose name contains NAME, beside Cedar's;
//! `scale-api N` loads N organizations through the HTTP API; `instructions [--bless]` checks
//! the instruction counts of a decision, a read and a write against `bench/instructions.json`).
//!
//! Every figure in BENCHMARKS.md, measured on this machine in one run each, with p50/p99 over
//! many iterations after a warm-up. `bench/run` installs wrk and runs `all`.

mod cpu;
mod decision_log;
mod http;
mod inputs;
mod instantiate;
mod instructions;
mod layers;
mod peers;
mod reload;
mod scale;
mod setup;
mod stats;
mod writes;

const ALL: [&str; 8] = [
    "peers",
    "layers",
    "log",
    "instantiate",
    "reload",
    "writes",
    "http",
    "scale",
];

/// The runtime `tenantry serve` would build for the backend under test
/// ([`tenantry::config::Settings::worker_threads`]): the servers run inside this process.
fn main() -> anyhow::Result<()> {
    let backend = tenantry::config::Settings {
        database_url: (std::env::var(tenantry::storage::postgres::scratch::TEST_BACKEND_VARIABLE)
            .as_deref()
            == Ok("postgres"))
        .then(|| "postgres://".to_owned()),
        ..tenantry::config::Settings::default()
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(backend.worker_threads())
        .enable_all()
        .build()?
        .block_on(measure())
}

async fn measure() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().cloned().unwrap_or_else(|| "all".into());
    // The scale measurement's own processes: one loads a size, a fresh one measures it.
    match what.as_str() {
        "scale-populate" => {
            let (data, orgs) = scale::data_arg(&args[1..])?;
            return scale::populate(&data, orgs).await;
        }
        "scale-measure" => {
            let (data, orgs) = scale::data_arg(&args[1..])?;
            return scale::measure(&data, orgs).await;
        }
        "scale-api" => {
            let orgs = args.get(1).map_or(Ok(1_000), |n| n.parse())?;
            return scale::through_api(orgs).await;
        }
        // Two servers on one PostgreSQL database (TENANTRY_TEST_BACKEND=postgres), the clients
        // spread over both.
        "writes-two" => return writes::run_on(2).await,
        // Instruction counts under callgrind (not in `all`: valgrind runs them ~50× slower);
        // `instructions-case` is the process each count runs.
        "instructions" => {
            let bless = args.get(1).map(String::as_str) == Some("--bless");
            return tokio::task::spawn_blocking(move || instructions::run(bless)).await?;
        }
        "instructions-case" => {
            let n = args.get(2).map_or(Ok(1), |n| n.parse())?;
            return instructions::case(args.get(1).map_or("", String::as_str), n).await;
        }
        _ => {}
    }
    let chosen: Vec<&str> = match what.as_str() {
        "all" => ALL.to_vec(),
        one if ALL.contains(&one) => vec![one],
        other => anyhow::bail!(
            "unknown measurement `{other}`; one of: all, {}",
            ALL.join(", ")
        ),
    };
    println!(
        "tenantry-bench {what}: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    for name in chosen {
        println!("== {name}");
        match name {
            // Plugins run outside the runtime's worker threads, as the writer calls them.
            "peers" => {
                let only = args.get(1).cloned();
                tokio::task::spawn_blocking(move || peers::run(only.as_deref())).await??
            }
            "instantiate" => tokio::task::spawn_blocking(instantiate::run).await??,
            "layers" => layers::run().await?,
            "log" => decision_log::run().await?,
            "reload" => reload::run().await?,
            "writes" => writes::run().await?,
            "http" => http::run().await?,
            "scale" => tokio::task::spawn_blocking(scale::run).await??,
            _ => unreachable!("checked above"),
        }
    }
    Ok(())
}
