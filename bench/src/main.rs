//! `cargo run --release -p tenantry-bench -- [all|peers|layers|log|instantiate|reload|writes|http]`
//! (`peers NAME` measures only the engines whose name contains NAME, beside Cedar's).
//!
//! Every figure in BENCHMARKS.md, measured on this machine in one run each, with p50/p99 over
//! many iterations after a warm-up. `bench/run` installs wrk and runs `all`.

mod decision_log;
mod http;
mod inputs;
mod instantiate;
mod layers;
mod peers;
mod reload;
mod setup;
mod stats;
mod writes;

const ALL: [&str; 7] = [
    "peers",
    "layers",
    "log",
    "instantiate",
    "reload",
    "writes",
    "http",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
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
                let only = std::env::args().nth(2);
                tokio::task::spawn_blocking(move || peers::run(only.as_deref())).await??
            }
            "instantiate" => tokio::task::spawn_blocking(instantiate::run).await??,
            "layers" => layers::run().await?,
            "log" => decision_log::run().await?,
            "reload" => reload::run().await?,
            "writes" => writes::run().await?,
            "http" => http::run().await?,
            _ => unreachable!("checked above"),
        }
    }
    Ok(())
}
