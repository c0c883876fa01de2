//! `pollpush load --gateway URL`: what a push gateway saves an upstream REST
//! API and its clients. Two runs with the same client count:
//! 1. N pollers of URL, as the clients would poll it without a gateway
//!    (the watch lanes, [`super::watched`]);
//! 2. N subscribers of feed `g` of a spawned `pollpush-server --feed g=URL`
//!    (the pollpush lanes, [`super::run_once`]).
//!
//! Both runs' delays are measured against the same clock: the time the
//! upstream's changed item says it changed (`--time-field`), so the report
//! can put them side by side with the upstream requests each run cost.

use std::fmt::Write as _;

use anyhow::{Context, bail};
use serde::Serialize;

use super::limits;
use super::progress::Progress;
use super::report::{Percentiles, RunReport, round3};
use super::watched::{self, report::WatchedRun};
use super::{OneRun, Settings, run_once};
use crate::cli::{ConnectArgs, LaneList, LoadArgs};
use crate::lane::LaneKind;

/// The feed's name on the spawned gateway.
const FEED: &str = "g";

/// The spawned server's flags for `--gateway URL`: the feed, polled once per `--interval`.
pub fn server_flags(load: &LoadArgs, connect: &ConnectArgs) -> Vec<String> {
    load.gateway.as_ref().map_or_else(Vec::new, |url| {
        vec![
            "--feed".to_owned(),
            format!("{FEED}={url}"),
            "--feed-every".to_owned(),
            format!("{}ms", connect.interval.as_millis()),
        ]
    })
}

/// The two runs, side by side.
#[derive(Debug, Serialize)]
pub struct GatewayReport {
    pub upstream: String,
    pub clients: usize,
    pub interval_ms: u64,
    pub duration_s: f64,
    /// What each item's change time is read from.
    pub time_field: String,
    pub direct: Side,
    pub gateway: Side,
    /// Each run's own report, in full.
    pub direct_run: WatchedRun,
    pub gateway_run: RunReport,
}

/// One run, in the figures both runs have.
#[derive(Debug, Serialize)]
pub struct Side {
    /// `poll-url` (polling the upstream), or the gateway lane's name.
    pub lane: &'static str,
    /// Requests the upstream got: counted by the pollers, or by the gateway (`/stats`).
    pub upstream_requests: u64,
    pub upstream_requests_per_s: f64,
    /// On the clients' sockets, both ways.
    pub client_bytes: u64,
    pub client_bytes_per_s: f64,
    /// Each update's delay on arrival at a client, from the time its item says it changed.
    pub delay_ms: Option<Percentiles>,
    /// The gateway: per change, its delay to the first subscriber (the wait for
    /// the gateway's next poll, mostly) and from the first to the last (the
    /// fan-out), p50 and p99 over the changes, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_subscriber_ms: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_to_last_ms: Option<[f64; 2]>,
    /// CPU of this process (the load clients), the whole run.
    pub clients_cpu_seconds: f64,
    /// CPU of the gateway process over the window.
    pub gateway_cpu_seconds: Option<f64>,
}

/// Runs both and reports them side by side.
pub async fn run(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<GatewayReport> {
    let Some(url) = args.gateway.clone() else {
        bail!("--gateway URL names the upstream");
    };
    let Some(time_field) = connect.time_field.clone() else {
        bail!(
            "--gateway needs --time-field /POINTER: where each upstream item says when it \
             changed, which both runs' delays are measured against"
        );
    };
    if connect.server.is_some() || connect.watching() || connect.feed.is_some() {
        bail!(
            "--gateway polls URL itself and spawns its own gateway: drop --server, --poll, --push and --feed"
        );
    }
    let clients = args.pollers;
    if clients == 0 {
        bail!("--gateway compares N clients each way: give --pollers N");
    }
    let direct = direct(connect, args, &url).await?;
    let gateway = through_gateway(connect, args, clients).await?;
    Ok(GatewayReport {
        upstream: url,
        clients,
        interval_ms: connect.interval.as_millis() as u64,
        duration_s: args.duration.as_secs_f64(),
        time_field,
        direct: direct.0,
        gateway: gateway.0,
        direct_run: direct.1,
        gateway_run: gateway.1,
    })
}

/// Run 1: the pollers poll the upstream.
async fn direct(
    connect: &ConnectArgs,
    args: &LoadArgs,
    url: &str,
) -> anyhow::Result<(Side, WatchedRun)> {
    let mut poll = connect.clone();
    poll.poll = Some(url.to_owned());
    let cpu = own_cpu_seconds();
    let report = watched::run(&poll, args).await?;
    let clients_cpu_seconds = round3(own_cpu_seconds() - cpu);
    let run = report.runs.into_iter().next().context("no direct run")?;
    let lane = run
        .lanes
        .get(LaneKind::UrlPoll.report_key())
        .context("no pollers")?;
    let requests = lane.requests.unwrap_or(0);
    let side = Side {
        lane: LaneKind::UrlPoll.name(),
        upstream_requests: requests,
        upstream_requests_per_s: round3(requests as f64 / run.duration_s.max(f64::EPSILON)),
        client_bytes: lane.wire.bytes_in + lane.wire.bytes_out,
        client_bytes_per_s: lane.wire.bytes_per_s,
        delay_ms: lane.delay_ms,
        first_subscriber_ms: None,
        first_to_last_ms: None,
        clients_cpu_seconds,
        gateway_cpu_seconds: None,
    };
    Ok((side, run))
}

/// Run 2: as many subscribers of the gateway's feed, on the first lane of
/// `--lanes` that is not `poll` (so `poll,ws`, the default, means ws).
async fn through_gateway(
    connect: &ConnectArgs,
    args: &LoadArgs,
    clients: usize,
) -> anyhow::Result<(Side, RunReport)> {
    let kinds = connect.lanes.0.clone();
    let lane = kinds
        .iter()
        .copied()
        .find(|&k| k != LaneKind::Poll)
        .unwrap_or(LaneKind::Poll);
    let mut via = connect.clone();
    via.feed = Some(FEED.to_owned());
    via.simulate = 0.0;
    via.lanes = LaneList(vec![lane]);
    let load = LoadArgs {
        spawn_server: true,
        ..args.clone()
    };
    let condition = via.conditions().remove(0);
    let settings = Settings {
        load: &load,
        connect: &via,
        condition: &condition,
    };
    let run = OneRun {
        clients: vec![(lane, clients)],
        open_files: limits::raise_open_files(),
        label: format!("gateway, {clients} {}", lane.name()),
    };
    let progress = Progress::new();
    let cpu = own_cpu_seconds();
    let report = run_once(&settings, &run, &progress).await?;
    let clients_cpu_seconds = round3(own_cpu_seconds() - cpu);
    progress.finish();
    let feed = report
        .server
        .feeds
        .iter()
        .find(|f| f.name == FEED)
        .context("the gateway's /stats has no feed")?;
    let measured = report.lanes.values().next().context("no subscribers")?;
    let side = Side {
        lane: lane.name(),
        upstream_requests: feed.upstream_requests,
        upstream_requests_per_s: feed.upstream_requests_per_s,
        client_bytes: measured.wire.bytes_in + measured.wire.bytes_out,
        client_bytes_per_s: measured.wire.bytes_per_s,
        delay_ms: Some(measured.latency_ms),
        first_subscriber_ms: Some(p50_p99(report.changes.iter().map(|c| c.first_ms))),
        first_to_last_ms: Some(p50_p99(
            report.changes.iter().map(|c| c.last_ms - c.first_ms),
        )),
        clients_cpu_seconds,
        gateway_cpu_seconds: Some(report.server.cpu_seconds),
    };
    Ok((side, report))
}

/// Nearest-rank p50 and p99 of `values`; zeros when there are none.
fn p50_p99(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| super::arrivals::nearest_rank(&sorted, q).map_or(0.0, round3);
    [at(0.5), at(0.99)]
}

/// CPU seconds this process has used.
fn own_cpu_seconds() -> f64 {
    pollpush_server::stats::process_stats().cpu_seconds
}

impl GatewayReport {
    /// One row per run: the side-by-side figures.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "run,lane,clients,interval_ms,upstream_requests,upstream_requests_per_s,client_bytes,\
             client_bytes_per_s,delay_p50_ms,delay_p99_ms,delay_max_ms,first_subscriber_p50_ms,\
             first_subscriber_p99_ms,first_to_last_p50_ms,first_to_last_p99_ms,clients_cpu_s,\
             gateway_cpu_s\n",
        );
        for (name, side) in [("direct", &self.direct), ("gateway", &self.gateway)] {
            let delay = |pick: fn(&Percentiles) -> f64| {
                side.delay_ms
                    .as_ref()
                    .map(pick)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let pair =
                |p: Option<[f64; 2]>, i: usize| p.map(|p| p[i].to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "{name},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                side.lane,
                self.clients,
                self.interval_ms,
                side.upstream_requests,
                side.upstream_requests_per_s,
                side.client_bytes,
                side.client_bytes_per_s,
                delay(|p| p.p50),
                delay(|p| p.p99),
                delay(|p| p.max),
                pair(side.first_subscriber_ms, 0),
                pair(side.first_subscriber_ms, 1),
                pair(side.first_to_last_ms, 0),
                pair(side.first_to_last_ms, 1),
                side.clients_cpu_seconds,
                side.gateway_cpu_seconds
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
        }
        out
    }
}
