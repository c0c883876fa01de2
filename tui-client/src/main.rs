//! `pollpush`: the command line, then the TUI. Everything else is in the library.

use clap::Parser;
use pollpush_client::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if let Some(Command::Load(args)) = cli.command.take() {
        return pollpush_client::load::run(args).await;
    }
    pollpush_client::tui::run(cli).await?;
    Ok(())
}
