//! The command line: flags, `POLLPUSH_*` environment variables and their checks.
//!
//! Every flag has one home: [`connect`] (where the panes and the load connect,
//! shared by every mode), [`run`] (`pollpush run`) and [`load`] (`pollpush
//! load`, its map included). The modes only read what these parse.

use clap::Parser;

mod conditions;
mod connect;
mod load;
mod parse;
mod run;

pub use connect::{ConnectArgs, LaneList};
pub use load::{LoadArgs, LoadFormat, MapArgs};
pub use parse::{MAX_INTERVAL, MIN_INTERVAL};
pub use run::{RunArgs, RunFormat};

/// Watch the ways to learn about a change side by side over the same data:
/// polling, long-polling, Server-Sent Events and WebSocket push.
///
/// With no --server, starts a pollpush server in this process (in-memory store,
/// simulator on) and connects every lane to it. With no subcommand it is the
/// terminal UI; when stdout is not a terminal it behaves as `run --duration 10s`.
#[derive(Debug, Clone, Parser)]
#[command(name = "pollpush", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// What to run instead of the terminal UI.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Record what the lanes see, without a terminal, as JSON, NDJSON or CSV.
    Run(RunArgs),
    /// Many pollers and subscribers against a server or a cluster: freshness, traffic and server cost.
    // Boxed: its flags make it much larger than `run`'s.
    Load(Box<LoadArgs>),
}

#[cfg(test)]
mod tests;
