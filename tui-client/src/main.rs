//! `pollpush`: the command line, then the TUI. Everything else is in the library.

use clap::Parser;
use pollpush_client::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    pollpush_client::tui::run(cli).await?;
    Ok(())
}
