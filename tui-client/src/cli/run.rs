//! `pollpush run`'s own flags: how long to record, in which format, where.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::parse_duration;

/// `pollpush run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// How long to record (e.g. 30s, 2m).
    #[arg(long, env = "POLLPUSH_DURATION", default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// json: one summary at the end; ndjson, csv: a row per second per protocol, then the summary.
    #[arg(long, env = "POLLPUSH_FORMAT", value_enum, default_value = "json")]
    pub format: RunFormat,

    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output formats of `pollpush run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    Json,
    Ndjson,
    Csv,
}

impl RunArgs {
    /// What plain `pollpush` does when stdout is not a terminal.
    pub fn piped_default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            format: RunFormat::Json,
            output: None,
        }
    }
}
