//! `pollpush load`: many pollers and many subscribers against one server (or
//! spread round-robin over a cluster's nodes), to answer "what does push cost
//! the server?" with measured numbers.
//!
//! A run starts a server (or attaches to one), connects every client, then
//! measures a window of `--duration`: what the clients saw (freshness, missed
//! changes, traffic) and what the server spent (CPU, RSS). `--sweep` repeats it
//! for each protocol alone at several client counts and can draw the chart.

pub mod chart;
pub mod fleet;
pub mod limits;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod server;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::cli::{ConnectArgs, parse_duration};
use fleet::Fleet;
use progress::Progress;
use report::{LoadReport, ProtocolReport, RunReport, ServerCost};
use server::ServerUnderTest;

/// Run many REST pollers and WebSocket subscribers against one server (or
/// round-robin over the nodes of `--server A,B,C`) and report freshness,
/// traffic and the server's own cost per protocol (summed over the nodes).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// REST pollers, each on its own keep-alive connection, sending If-None-Match.
    #[arg(long, default_value_t = 0, conflicts_with = "sweep")]
    pub pollers: usize,

    /// WebSocket subscribers, each on its own connection.
    #[arg(long, default_value_t = 0, conflicts_with = "sweep")]
    pub subscribers: usize,

    /// The measured window of each run, after every client has connected.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Run the server as a separate pollpush-server process (found next to this
    /// binary), so its CPU and RSS exclude the load clients.
    #[arg(long)]
    pub spawn_server: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Draw the sweep into this SVG file.
    #[arg(long, value_name = "FILE.svg", requires = "sweep")]
    pub chart: Option<PathBuf>,

    /// Client counts: run each protocol alone at each count, e.g. 10,100,1000.
    #[arg(long, value_name = "COUNTS", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub sweep: Option<Vec<u32>>,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object: `{"runs": [...]}`.
    Json,
    /// A header, then one row per run and protocol.
    Csv,
}

/// What one run needs to know: the load's own flags and the shared connection flags
/// (`--server`, `--ws-url`, `--interval`, `--simulate`, `--seed`, `--no-etag`).
pub struct Settings<'a> {
    pub load: &'a LoadArgs,
    pub connect: &'a ConnectArgs,
}

/// Runs the load (or the sweep), prints the report and draws the chart.
pub async fn run(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<()> {
    if connect.server.is_some() && args.spawn_server {
        bail!("--spawn-server starts its own server: drop --server, or drop --spawn-server");
    }
    if connect.ws_url.is_some() && connect.server.is_none() {
        bail!("--ws-url needs --server");
    }
    let settings = Settings {
        load: args,
        connect,
    };
    if let Some(chart) = &args.chart {
        crate::load::chart::check_path(chart)?;
    }
    let plan = plan(args)?;
    let open_files = limits::raise_open_files();
    let progress = Progress::new();
    let mut runs = Vec::with_capacity(plan.len());
    for (index, &(pollers, subscribers)) in plan.iter().enumerate() {
        let run = OneRun {
            pollers,
            subscribers,
            open_files,
            label: format!("run {}/{}", index + 1, plan.len()),
        };
        runs.push(run_once(&settings, &run, &progress).await?);
    }
    progress.finish();
    let report = LoadReport { runs };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Csv => print!("{}", report.to_csv()),
    }
    if let Some(path) = &args.chart {
        crate::load::chart::draw(path, &report.runs, &settings)?;
    }
    Ok(())
}

/// The `(pollers, subscribers)` of every run.
fn plan(args: &LoadArgs) -> anyhow::Result<Vec<(usize, usize)>> {
    if let Some(counts) = &args.sweep {
        let counts = counts.iter().map(|&n| n as usize);
        let rest = counts.clone().map(|n| (n, 0));
        let ws = counts.map(|n| (0, n));
        return Ok(rest.chain(ws).collect());
    }
    if args.pollers == 0 && args.subscribers == 0 {
        bail!("nothing to load: give --pollers N and/or --subscribers M, or --sweep 10,100,1000");
    }
    Ok(vec![(args.pollers, args.subscribers)])
}

async fn start_server(s: &Settings<'_>) -> anyhow::Result<ServerUnderTest> {
    let c = s.connect;
    match (&c.server, s.load.spawn_server) {
        (Some(url), _) => ServerUnderTest::remote(url, c.ws_url.as_deref()).await,
        (None, true) => ServerUnderTest::child(c.simulate, c.seed).await,
        (None, false) => ServerUnderTest::embedded(c.simulate, c.seed).await,
    }
}

/// One run of the plan.
struct OneRun {
    pollers: usize,
    subscribers: usize,
    /// The open-file limit in force.
    open_files: u64,
    label: String,
}

async fn run_once(
    s: &Settings<'_>,
    run: &OneRun,
    progress: &Progress,
) -> anyhow::Result<RunReport> {
    progress.phase(format!("{}: starting the server", run.label));
    let server = start_server(s).await?;
    let result = measure(s, &server, run, progress).await;
    server.stop().await;
    result
}

async fn measure(
    s: &Settings<'_>,
    server: &ServerUnderTest,
    run: &OneRun,
    progress: &Progress,
) -> anyhow::Result<RunReport> {
    let OneRun {
        pollers,
        subscribers,
        open_files,
        ref label,
    } = *run;
    limits::check_open_files(pollers + subscribers + 1, server.is_embedded(), open_files)?;
    // No changes while clients connect, so the ramp does not pile up catch-up work.
    server.set_simulator_rate(0.0);
    let idle = server.cost().await?;
    let ramp_started = Instant::now();
    let mut fleet = Fleet::start(
        &server.nodes,
        pollers,
        subscribers,
        s.connect.poll_settings(),
    )
    .await
    .context("the server does not answer on /ws")?;
    let result = async {
        fleet
            .connect_subscribers(&|done, all| {
                progress.phase(format!("{label}: {done}/{all} subscribers connected"));
            })
            .await?;
        progress.phase(format!("{label}: starting {pollers} pollers"));
        fleet.connect_pollers().await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        fleet.stop().await;
        return Err(error.context(format!(
            "cannot open {pollers} pollers and {subscribers} subscribers"
        )));
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();
    server.set_simulator_rate(s.connect.simulate);
    let run = window(s.load.duration, server, &fleet, idle, label, progress).await;
    fleet.stop().await;
    let (cost, rest, ws) = run?;
    Ok(RunReport {
        pollers,
        subscribers,
        interval_ms: s.connect.interval.as_millis() as u64,
        simulate: s.connect.simulate,
        duration_s: s.load.duration.as_secs_f64(),
        ramp_s: (ramp_s * 10.0).round() / 10.0,
        server: cost,
        rest: (pollers > 0).then_some(rest),
        ws: (subscribers > 0).then_some(ws),
    })
}

/// The measured window: counters zeroed at its start, read at its end.
async fn window(
    duration: Duration,
    server: &ServerUnderTest,
    fleet: &Fleet,
    idle: server::Cost,
    label: &str,
    progress: &Progress,
) -> anyhow::Result<(ServerCost, ProtocolReport, ProtocolReport)> {
    fleet.rest.reset();
    fleet.ws.reset();
    let base = (fleet.rest.traffic.totals(), fleet.ws.traffic.totals());
    let start = server.cost().await?;
    progress.window(label, duration.as_secs());
    let end_at = start.at + duration;
    let mut tick = start.at;
    while tick < end_at {
        tick = (tick + Duration::from_secs(1)).min(end_at);
        tokio::time::sleep_until(tick).await;
        let elapsed = (tick - start.at).as_secs();
        progress.update(elapsed, live_line(fleet));
    }
    let end = server.cost().await?;
    let wall = (end.at - start.at).as_secs_f64();
    fleet.rest.resolve_deliveries(&protocol::lock(&fleet.times));
    let cost = ServerCost::between(server.measured(), &idle, &start, &end);
    let rest = ProtocolReport::read(&fleet.rest, base.0, wall, true);
    let ws = ProtocolReport::read(&fleet.ws, base.1, wall, false);
    Ok((cost, rest, ws))
}

fn live_line(fleet: &Fleet) -> String {
    format!(
        "rest {} req, ws {} msg, errors {}",
        fleet.rest.requests.load(Relaxed),
        fleet.ws.messages.load(Relaxed),
        fleet.rest.errors.load(Relaxed) + fleet.ws.errors.load(Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn parse(args: &[&str]) -> Result<LoadArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("load").chain(args.iter().copied())).map(|w| w.load)
    }

    #[test]
    fn a_sweep_runs_each_protocol_alone_at_each_count() {
        let args = parse(&["--sweep", "10,100"]).expect("valid");
        assert_eq!(
            plan(&args).expect("a plan"),
            vec![(10, 0), (100, 0), (0, 10), (0, 100)]
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--duration", "soon"]).is_err());
        assert!(parse(&["--format", "xml"]).is_err());
        assert!(
            parse(&["--chart", "x.svg"]).is_err(),
            "a chart needs a sweep"
        );
        assert!(parse(&["--sweep", "10", "--pollers", "3"]).is_err());
        assert!(parse(&["--sweep", "0"]).is_err());
        let none = parse(&[]).expect("parses");
        assert!(plan(&none).is_err(), "no clients is nothing to do");
    }
}
