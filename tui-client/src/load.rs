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

pub mod arrivals;
pub mod chart;
pub mod crew;
pub mod fleet;
pub mod gateway;
pub mod limits;
pub mod map;
pub mod plan;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod server;
pub mod tally;
pub mod watched;
pub mod worker;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::cli::{ConnectArgs, LoadArgs, LoadFormat};
use crate::condition::Condition;
use crate::event::TrafficTotals;
use crate::lane::{Exchange, LaneKind, LaneMap};
use arrivals::Arrivals;
use fleet::Fleet;
use plan::{Clients, count, plan};
use progress::Progress;
use report::{LoadReport, ProtocolReport, RunReport, ServerCost};
use server::ServerUnderTest;
use tally::LaneTally;

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
    if args.worker {
        return worker::run(connect, args).await;
    }
    check_workers(connect, args)?;
    if connect.server.is_some() && args.spawn_server {
        bail!("--spawn-server starts its own server: drop --server, or drop --spawn-server");
    }
    if connect.ws_url.is_some() && connect.server.is_none() {
        bail!("--ws-url needs --server");
    }
    if args.gateway.is_some() {
        let report = gateway::run(connect, args).await?;
        match args.format {
            LoadFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            LoadFormat::Csv => print!("{}", report.to_csv()),
        }
        return Ok(());
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

/// Refuses what `--workers` cannot split: a map or a sweep (one run at a
/// time), a watched service, and an embedded or spawned server over TLS
/// (whose certificate only this process trusts).
fn check_workers(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<()> {
    if args.workers == 1 {
        return Ok(());
    }
    if args.map.map || args.sweep.is_some() || connect.watching() {
        bail!("--workers splits one run: drop --map, --sweep, --poll and --push");
    }
    if connect.tls && connect.server.is_none() {
        bail!(
            "--workers with --tls needs --server https://… (and --ca-cert): the certificate of a \
             server this load starts is trusted by this process only"
        );
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
        (None, true) => {
            let extra = gateway::server_flags(s.load, c);
            ServerUnderTest::child(c.simulate, c.seed, c.tls, &extra).await
        }
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
    // With workers, this process holds only the embedded server's ends.
    let workers = s.load.workers;
    if workers == 1 || server.is_embedded() {
        limits::check_open_files(total + 1, server.is_embedded() && workers == 1, open_files)?;
    }
    // No changes while clients connect, so the ramp does not pile up catch-up work.
    server.set_simulator_rate(0.0);
    let idle = server.cost().await?;
    let measured = if workers > 1 {
        crew::measure(s, server, clients, idle, label, progress).await?
    } else {
        in_process(s, server, clients, idle, label, progress).await?
    };
    let lanes = s.connect.lanes();
    let polling = |kind: &LaneKind| kind.exchange() == Exchange::Requests;
    let mut all = Arrivals::default();
    for tally in measured.lanes.values() {
        all.merge(&tally.arrivals);
    }
    Ok(RunReport {
        pollers: count(clients, LaneKind::Poll),
        longpollers: count(clients, LaneKind::LongPoll),
        sse_subscribers: count(clients, LaneKind::Sse),
        subscribers: count(clients, LaneKind::Ws),
        socketio_subscribers: count(clients, LaneKind::SocketIo),
        workers,
        worker_failures: measured.failures,
        interval_ms: s.connect.interval.as_millis() as u64,
        simulate: s.connect.simulate,
        conditions: s.condition.report(),
        duration_s: s.load.duration.as_secs_f64(),
        ramp_s: (measured.ramp_s * 10.0).round() / 10.0,
        long_poll_wait_s: (count(clients, LaneKind::LongPoll) > 0)
            .then_some(lanes.long_poll_wait.as_secs()),
        server: measured.cost,
        write_to_last_ms: all.summary(),
        changes: all.changes(),
        lanes: LaneMap(
            measured
                .lanes
                .0
                .iter()
                .map(|(kind, tally)| {
                    let report = ProtocolReport::new(tally, measured.wall_s, polling(kind));
                    (*kind, report)
                })
                .collect(),
        ),
    })
}

/// What one run measured, in this process or added up over its workers.
pub(crate) struct Measured {
    pub ramp_s: f64,
    pub wall_s: f64,
    pub cost: ServerCost,
    pub lanes: LaneMap<LaneTally>,
    pub failures: Vec<crew::WorkerFailure>,
}

/// The run with every client in this process.
async fn in_process(
    s: &Settings<'_>,
    server: &ServerUnderTest,
    clients: &Clients,
    idle: server::Cost,
    label: &str,
    progress: &Progress,
) -> anyhow::Result<Measured> {
    let ramp_started = Instant::now();
    let lanes = s.connect.lanes();
    let mut fleet = Fleet::start(
        &s.connect
            .lane_nodes(server.nodes.clone())
            .with_source(s.load.source_addrs.as_ref()),
        clients,
        s.connect.poll_settings(),
        lanes.long_poll_wait,
        s.connect.time_field.clone(),
    )
    .await
    .context("the server does not answer on /ws")?;
    if let Err(error) = connect_all(&mut fleet, label, progress).await {
        fleet.stop().await;
        let wanted: Vec<String> = clients
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.name()))
            .collect();
        return Err(error.context(format!("cannot open {} clients", wanted.join(" + "))));
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();
    server.set_simulator_rate(s.connect.simulate);
    let bases = start_window(&fleet);
    let costs = async {
        let start = server.cost().await?;
        wait_window(s.load.duration, start.at, label, progress, || {
            live_line(&fleet)
        })
        .await;
        anyhow::Ok((start, server.cost().await?))
    }
    .await;
    let lanes = read_window(&fleet, bases);
    fleet.stop().await;
    let (start, end) = costs?;
    Ok(Measured {
        ramp_s,
        wall_s: (end.at - start.at).as_secs_f64(),
        cost: ServerCost::between(server.measured(), &idle, &start, &end),
        lanes,
        failures: Vec::new(),
    })
}

/// Connects every client of the fleet, streams first and pollers last, so
/// no poll waits for a slow ramp.
pub(crate) async fn connect_all(
    fleet: &mut Fleet,
    label: &str,
    progress: &Progress,
) -> anyhow::Result<()> {
    for kind in [
        LaneKind::Ws,
        LaneKind::SocketIo,
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
    Ok(())
}

/// Starts the measured window: counters zeroed, traffic taken as each lane's base.
pub(crate) fn start_window(fleet: &Fleet) -> Vec<TrafficTotals> {
    fleet
        .lanes
        .values()
        .map(|protocol| {
            protocol.reset();
            protocol.traffic.totals()
        })
        .collect()
}

/// Waits out a window of `duration` from `start`, a progress line a second.
pub(crate) async fn wait_window(
    duration: Duration,
    start: Instant,
    label: &str,
    progress: &Progress,
    line: impl Fn() -> String,
) {
    progress.window(label, duration.as_secs());
    let end_at = start + duration;
    let mut tick = start;
    while tick < end_at {
        tick = (tick + Duration::from_secs(1)).min(end_at);
        tokio::time::sleep_until(tick).await;
        progress.update((tick - start).as_secs(), line());
    }
}

/// Each lane's tally at the end of the window whose traffic started at `bases`.
pub(crate) fn read_window(fleet: &Fleet, bases: Vec<TrafficTotals>) -> LaneMap<LaneTally> {
    let times = protocol::lock(&fleet.times).clone();
    LaneMap(
        fleet
            .lanes
            .0
            .iter()
            .zip(bases)
            .map(|((kind, protocol), base)| {
                protocol.resolve_deliveries(&times);
                (*kind, LaneTally::read(protocol, base))
            })
            .collect(),
    )
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
