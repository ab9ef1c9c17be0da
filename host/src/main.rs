//! The `tenantry` binary: parse the command line, hand over to the library.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = tenantry::cli::Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = tenantry::cli::worker_threads(&cli) {
        runtime.worker_threads(threads);
    }
    let code = runtime.build()?.block_on(tenantry::cli::run(cli))?;
    std::process::exit(code);
}
