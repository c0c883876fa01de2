//! `pollpush`: the command line, then the TUI or a headless mode. Everything
//! else is in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use pollpush_client::cli::{Cli, Command, RunArgs};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match &cli.command {
        Some(Command::Run(args)) => pollpush_client::headless::run(&cli.connect, args)
            .await
            .map(drop)
            .map_err(Into::into),
        // Piped into a script: record instead of drawing on something that is not a screen.
        None if !std::io::stdout().is_terminal() => {
            pollpush_client::headless::run(&cli.connect, &RunArgs::piped_default())
                .await
                .map(drop)
                .map_err(Into::into)
        }
        Some(Command::Load(args)) => pollpush_client::load::run(&cli.connect, args).await,
        None => pollpush_client::tui::run(cli).await.map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line a script can show as it is, whatever RUST_BACKTRACE says.
            eprintln!("pollpush: {e:#}");
            ExitCode::FAILURE
        }
    }
}
