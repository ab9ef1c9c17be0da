//! The `tenantry` binary: parse the command line, hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = tenantry::cli::Cli::parse();
    let code = tenantry::cli::run(cli).await?;
    std::process::exit(code);
}
