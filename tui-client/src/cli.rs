//! The command line: flags, `POLLPUSH_*` environment variables and their checks.

use std::time::Duration;

use clap::Parser;

use crate::net::poll::PollSettings;

/// Watch REST polling and WebSocket push side by side over the same data.
///
/// With no --server, starts a pollpush server in this process (in-memory store,
/// simulator on) and connects both panes to it.
#[derive(Debug, Clone, Parser)]
#[command(name = "pollpush", version, about, long_about)]
pub struct Cli {
    /// A running pollpush-server to attach to, e.g. http://host:5000.
    #[arg(long, env = "POLLPUSH_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// The WebSocket URL, when it is not <server>/ws.
    #[arg(long, env = "POLLPUSH_WS_URL", value_name = "URL", requires = "server")]
    pub ws_url: Option<String>,

    /// How often the REST pane polls (100ms … 60s).
    #[arg(long, env = "POLLPUSH_INTERVAL", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Changes per second the embedded server's simulator makes.
    #[arg(long, env = "POLLPUSH_SIMULATE", default_value_t = 2.0, value_parser = parse_rate)]
    pub simulate: f64,

    /// Start with If-None-Match off (toggle with `e`).
    #[arg(long, env = "POLLPUSH_NO_ETAG")]
    pub no_etag: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do instead of the TUI.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Many pollers and subscribers against one server: freshness, traffic and server cost.
    Load(crate::load::LoadArgs),
}

impl Cli {
    pub fn poll_settings(&self) -> PollSettings {
        PollSettings {
            interval: self.interval,
            paused: false,
            etag: !self.no_etag,
        }
    }
}

/// Shortest and longest polling periods.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_INTERVAL: Duration = Duration::from_mins(1);

pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (try 500ms, 1s, 2m)"))?;
    if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) {
        Ok(d)
    } else {
        Err("must be between 100ms and 60s".to_owned())
    }
}

pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if rate.is_finite() && (0.0..=10_000.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be between 0 and 10000 changes per second".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_demo() {
        let cli = Cli::try_parse_from(["pollpush"]).expect("no arguments is valid");
        assert_eq!(cli.server, None);
        assert_eq!(cli.interval, Duration::from_secs(1));
        assert!((cli.simulate - 2.0).abs() < f64::EPSILON);
        assert!(cli.poll_settings().etag);
    }

    #[test]
    fn intervals_are_human_and_bounded() {
        let cli = Cli::try_parse_from(["pollpush", "--interval", "250ms"]).expect("valid");
        assert_eq!(cli.interval, Duration::from_millis(250));
        assert!(Cli::try_parse_from(["pollpush", "--interval", "10ms"]).is_err());
        assert!(Cli::try_parse_from(["pollpush", "--interval", "soon"]).is_err());
        assert!(Cli::try_parse_from(["pollpush", "--simulate", "-1"]).is_err());
    }

    #[test]
    fn ws_url_needs_a_server() {
        assert!(Cli::try_parse_from(["pollpush", "--ws-url", "ws://h/ws"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
