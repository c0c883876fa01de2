//! `pollpush load`: many clients of each lane (pollers, long-pollers, SSE and
//! WebSocket subscribers) against one server (or spread round-robin over a
//! cluster's nodes), to answer "what does each way cost the server?" with
//! measured numbers.
//!
//! A run starts a server (or attaches to one), connects every client, then
//! measures a window of `--duration`: what the clients saw (freshness, missed
//! changes, traffic) and what the server spent (CPU, RSS). `--sweep` repeats it
//! for each lane alone at several client counts and can draw the chart.
//!
//! With `--poll` / `--push` it loads any service instead ([`watched`]): the
//! same lanes, measured from the client side only.

pub mod chart;
pub mod fleet;
pub mod limits;
pub mod map;
pub mod plan;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod server;
pub mod watched;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::cli::{ConnectArgs, LoadArgs, LoadFormat};
use crate::condition::Condition;
use crate::lane::{Exchange, LaneKind, LaneMap};
use fleet::Fleet;
use plan::{Clients, count, plan};
use progress::Progress;
use report::{LoadReport, ProtocolReport, RunReport, ServerCost};
use server::ServerUnderTest;

/// What one run needs to know: the load's own flags and the shared connection flags
/// (`--server`, `--ws-url`, `--lanes`, `--interval`, `--long-poll-wait`,
/// `--simulate`, `--seed`, `--no-etag`).
pub struct Settings<'a> {
    pub load: &'a LoadArgs,
    pub connect: &'a ConnectArgs,
    /// What `connect` amounts to, named, for the reports.
    pub condition: &'a Condition,
}

/// Runs the load (or the sweep), prints the report and draws the chart.
pub async fn run(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<()> {
    if connect.server.is_some() && args.spawn_server {
        bail!("--spawn-server starts its own server: drop --server, or drop --spawn-server");
    }
    if connect.ws_url.is_some() && connect.server.is_none() {
        bail!("--ws-url needs --server");
    }
    if connect.watching() {
        let report = watched::run(connect, args).await?;
        match args.format {
            LoadFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            LoadFormat::Csv => print!("{}", report.to_csv()),
        }
        return Ok(());
    }
    if args.map.map {
        let map = map::run(connect, args).await?;
        match args.format {
            LoadFormat::Json => println!("{}", serde_json::to_string_pretty(&map)?),
            LoadFormat::Csv => print!("{}", map.to_csv()),
        }
        if let Some(path) = &args.map.map_chart {
            map::chart::draw(path, &map)?;
        }
        return Ok(());
    }
    connect.one_http()?;
    if let Some(chart) = &args.chart {
        chart::check_path(chart)?;
    }
    let condition = connect.conditions().remove(0);
    let settings = Settings {
        load: args,
        connect,
        condition: &condition,
    };
    let plan = plan(args, &connect.lanes().kinds)?;
    let open_files = limits::raise_open_files();
    let progress = Progress::new();
    let mut runs = Vec::with_capacity(plan.len());
    for (index, clients) in plan.iter().enumerate() {
        let run = OneRun {
            clients: clients.clone(),
            open_files,
            label: format!("run {}/{} [{}]", index + 1, plan.len(), condition.name),
        };
        runs.push(run_once(&settings, &run, &progress).await?);
    }
    progress.finish();
    let report = LoadReport { runs };
    match args.format {
        LoadFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        LoadFormat::Csv => print!("{}", report.to_csv()),
    }
    if let Some(path) = &args.chart {
        chart::draw(path, &report.runs, &settings)?;
    }
    Ok(())
}

async fn start_server(s: &Settings<'_>) -> anyhow::Result<ServerUnderTest> {
    let c = s.connect;
    match (&c.server, s.load.spawn_server) {
        (Some(url), _) => {
            let tls = c.tls()?;
            ServerUnderTest::remote(url, c.ws_url.as_deref(), c.token.as_deref(), &tls).await
        }
        // --tls: the child serves HTTPS with --tls-self-signed, trusted by the clients.
        (None, true) => ServerUnderTest::child(c.simulate, c.seed, c.tls).await,
        (None, false) => ServerUnderTest::embedded(c.simulate, c.seed, c.tls).await,
    }
}

/// One run of the plan.
struct OneRun {
    clients: Clients,
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
        ref clients,
        open_files,
        ref label,
    } = *run;
    let total = clients.iter().map(|(_, n)| n).sum::<usize>();
    limits::check_open_files(total + 1, server.is_embedded(), open_files)?;
    // No changes while clients connect, so the ramp does not pile up catch-up work.
    server.set_simulator_rate(0.0);
    let idle = server.cost().await?;
    let ramp_started = Instant::now();
    let lanes = s.connect.lanes();
    let mut fleet = Fleet::start(
        &s.connect.lane_nodes(server.nodes.clone()),
        clients,
        s.connect.poll_settings(),
        lanes.long_poll_wait,
    )
    .await
    .context("the server does not answer on /ws")?;
    let result = async {
        // Streams first and pollers last, so no poll waits for a slow ramp.
        for kind in [
            LaneKind::Ws,
            LaneKind::Sse,
            LaneKind::LongPoll,
            LaneKind::Poll,
        ] {
            let name = kind.name();
            progress.phase(format!("{label}: connecting {name} clients"));
            fleet
                .connect(kind, &|done, all| {
                    progress.phase(format!("{label}: {done}/{all} {name} clients connected"));
                })
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        fleet.stop().await;
        let wanted: Vec<String> = clients
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.name()))
            .collect();
        return Err(error.context(format!("cannot open {} clients", wanted.join(" + "))));
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();
    server.set_simulator_rate(s.connect.simulate);
    let run = window(s.load.duration, server, &fleet, idle, label, progress).await;
    fleet.stop().await;
    let (cost, lane_reports) = run?;
    Ok(RunReport {
        pollers: count(clients, LaneKind::Poll),
        longpollers: count(clients, LaneKind::LongPoll),
        sse_subscribers: count(clients, LaneKind::Sse),
        subscribers: count(clients, LaneKind::Ws),
        interval_ms: s.connect.interval.as_millis() as u64,
        simulate: s.connect.simulate,
        conditions: s.condition.report(),
        duration_s: s.load.duration.as_secs_f64(),
        ramp_s: (ramp_s * 10.0).round() / 10.0,
        long_poll_wait_s: (count(clients, LaneKind::LongPoll) > 0)
            .then_some(lanes.long_poll_wait.as_secs()),
        server: cost,
        lanes: lane_reports,
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
) -> anyhow::Result<(ServerCost, LaneMap<ProtocolReport>)> {
    let mut bases = Vec::new();
    for protocol in fleet.lanes.values() {
        protocol.reset();
        bases.push(protocol.traffic.totals());
    }
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
    let times = protocol::lock(&fleet.times).clone();
    let cost = ServerCost::between(server.measured(), &idle, &start, &end);
    let reports = fleet
        .lanes
        .0
        .iter()
        .zip(bases)
        .map(|((kind, protocol), base)| {
            protocol.resolve_deliveries(&times);
            let polling = kind.exchange() == Exchange::Requests;
            (*kind, ProtocolReport::read(protocol, base, wall, polling))
        })
        .collect();
    Ok((cost, LaneMap(reports)))
}

fn live_line(fleet: &Fleet) -> String {
    let mut errors = 0;
    let mut parts: Vec<String> = fleet
        .lanes
        .0
        .iter()
        .map(|(kind, p)| {
            errors += p.errors.load(Relaxed);
            match kind.exchange() {
                Exchange::Requests => format!("{} {} req", kind.name(), p.requests.load(Relaxed)),
                Exchange::Messages => format!("{} {} msg", kind.name(), p.messages.load(Relaxed)),
            }
        })
        .collect();
    parts.push(format!("errors {errors}"));
    parts.join(", ")
}
