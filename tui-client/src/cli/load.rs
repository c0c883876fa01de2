//! `pollpush load`'s own flags, the map's included. The load mode only reads them.

use std::path::PathBuf;
use std::time::Duration;

use crate::condition::Condition;
use crate::net::source::SourceAddrs;

use super::parse::{parse_duration, parse_interval, parse_rate};

/// Run many clients of each lane against one server (or round-robin over the
/// nodes of `--server A,B,C`) and report freshness, traffic and the server's
/// own cost per lane (summed over the nodes).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// REST pollers, each on its own keep-alive connection, sending If-None-Match
    /// (with --poll: pollers of that URL).
    #[arg(long, default_value_t = 0, conflicts_with = "sweep")]
    pub pollers: usize,

    /// Long-pollers, each on its own keep-alive connection (`--long-poll-wait`).
    #[arg(long, default_value_t = 0, conflicts_with = "sweep")]
    pub longpollers: usize,

    /// Server-Sent Events subscribers, each on its own connection.
    #[arg(
        long = "sse",
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "sweep"
    )]
    pub sse_subscribers: usize,

    /// WebSocket subscribers, each on its own connection (with --push:
    /// subscribers of that feed, whatever its protocol).
    #[arg(long, default_value_t = 0, conflicts_with = "sweep")]
    pub subscribers: usize,

    /// socket.io subscribers of `/socket.io/` (WebSocket transport), each on its own connection.
    #[arg(
        long = "socketio",
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "sweep"
    )]
    pub socketio_subscribers: usize,

    /// The measured window of each run, after every client has connected.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Run the server as a separate pollpush-server process (found next to this
    /// binary), so its CPU and RSS exclude the load clients.
    #[arg(long)]
    pub spawn_server: bool,

    /// Compare polling an upstream REST URL directly with pushing it through
    /// a gateway: two runs of the same client count (--pollers N), N pollers
    /// of URL, then N subscribers (the --lanes but poll, ws by default) of a
    /// spawned `pollpush-server --feed g=URL --feed-every <--interval>`. Needs
    /// --time-field: the upstream's items say when they changed, which both
    /// runs' staleness is measured against.
    #[arg(long, value_name = "URL", conflicts_with_all = ["sweep", "map", "spawn_server", "workers"])]
    pub gateway: Option<String>,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = LoadFormat::Json)]
    pub format: LoadFormat,

    /// Draw the sweep into this SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "sweep")]
    pub chart: Option<PathBuf>,

    /// Run the clients in N child processes of this program, each with its own
    /// open-file limit and a share of every lane; the report adds them up.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256), conflicts_with_all = ["sweep", "map"])]
    pub workers: u16,

    /// Bind the clients' connections to these source addresses in turn, e.g.
    /// 127.0.0.2-127.0.0.20 (a range) or A,B,C: one address reaches one
    /// server port from at most ~28,000 ports.
    #[arg(long, value_name = "A-B|A,B,…", value_parser = SourceAddrs::parse)]
    pub source_addrs: Option<SourceAddrs>,

    /// Run as one of those child processes (set by the parent).
    #[arg(long, hide = true)]
    pub worker: bool,

    /// Client counts: run each lane of `--lanes` alone at each count, e.g. 10,100,1000.
    #[arg(long, value_name = "COUNTS", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub sweep: Option<Vec<u32>>,

    #[command(flatten)]
    pub map: MapArgs,
}

/// How `load` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadFormat {
    /// One JSON object: `{"runs": [...]}`.
    Json,
    /// A header, then one row per run and lane.
    Csv,
}

/// The map's own flags (`pollpush load --map …`).
// The conditions (`--http 1.1,2`, `--tls`) are the map's third dimension: one
// panel each ([`Condition`]).
#[derive(Debug, Clone, clap::Args)]
pub struct MapArgs {
    /// Map the lanes of `--lanes` over change rates × polling intervals.
    #[arg(long, conflicts_with_all = ["sweep", "pollers", "longpollers", "sse_subscribers", "subscribers", "socketio_subscribers"])]
    pub map: bool,

    /// Clients of each lane in every cell.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..), requires = "map")]
    pub map_clients: u32,

    /// Change rates (changes per second), the map's rows.
    #[arg(long, value_delimiter = ',', default_value = "0.1,1,10,50", value_parser = parse_rate, requires = "map")]
    pub map_rates: Vec<f64>,

    /// Polling intervals, the map's columns.
    #[arg(long, value_delimiter = ',', default_value = "250ms,1s,5s", value_parser = parse_interval, requires = "map")]
    pub map_intervals: Vec<Duration>,

    /// The measured window of each run (one per lane and cell).
    #[arg(long, default_value = "4s", value_parser = parse_duration, requires = "map")]
    pub map_cell_seconds: Duration,

    /// Named conditions, a panel each: lab (minimal profile, cleartext,
    /// HTTP/1.1), production (browser profile, TLS, HTTP/2), mobile
    /// (production through "delay 150ms loss 1%"). Without it, the flags make
    /// the conditions: one per --http version, with --tls, --profile, --link.
    #[arg(long, value_delimiter = ',', value_name = "lab,production,mobile", value_parser = Condition::named, requires = "map")]
    pub conditions: Vec<Condition>,

    /// Draw the map into this SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "map")]
    pub map_chart: Option<PathBuf>,
}
