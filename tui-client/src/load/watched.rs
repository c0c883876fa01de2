//! `pollpush load --poll URL --push URL`: many clients of a service that is
//! not a pollpush server, with the watch lanes' own code ([`run_lane`]).
//!
//! Against a service we neither run nor can ask, only the client side is
//! measurable: who connected, what arrived, the bytes on the sockets, how
//! long polls took and how far apart the same update reached the
//! subscribers. The service's CPU and memory are reported as `n/a`.

pub mod crowd;
pub mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::LoadArgs;
use super::fleet::wait_for;
use super::limits;
use super::progress::Progress;
use crate::cli::ConnectArgs;
use crate::lane::{Exchange, LaneKind, LaneMap};
use crate::net::{LaneConfig, run_lane};
use crowd::Crowd;
use report::{ServerNotMeasured, WatchedLane, WatchedReport, WatchedRun};

/// Runs the load against the watched service and returns what it measured.
pub async fn run(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<WatchedReport> {
    refuse_server_flags(args)?;
    let clients = clients(connect, args)?;
    let total = clients.iter().map(|(_, n)| n).sum::<usize>();
    limits::check_open_files(total, false, limits::raise_open_files())?;
    let target = connect.target().await?;
    let watch = target
        .watch
        .clone()
        .context("--poll or --push names no service")?;
    let (settings, poll) = tokio::sync::watch::channel(connect.poll_settings());
    let crowds: Vec<Arc<Crowd>> = clients
        .iter()
        .map(|&(kind, n)| Arc::new(Crowd::new(kind, n)))
        .collect();
    let progress = Progress::new();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for crowd in &crowds {
        for id in 0..crowd.clients {
            let config = LaneConfig {
                nodes: target.nodes.clone(),
                node: 0,
                poll: poll.clone(),
                long_poll_wait: connect.long_poll_wait,
                watch: Some(watch.clone()),
            };
            // Real pollers are not in step: their first polls spread over one interval.
            let delay = match crowd.kind.exchange() {
                Exchange::Requests => connect.interval.mul_f64(id as f64 / crowd.clients as f64),
                Exchange::Messages => Duration::ZERO,
            };
            let (kind, traffic, sink) = (crowd.kind, crowd.traffic.clone(), crowd.member());
            tasks.spawn(async move {
                tokio::time::sleep(delay).await;
                run_lane(kind, config, traffic, sink).await;
            });
        }
    }
    progress.phase(format!("connecting {total} clients"));
    let ramp_limit = (connect.timeout + connect.interval).min(args.duration);
    wait_for(|| crowds.iter().all(|c| c.all_connected()), ramp_limit).await;
    let ramp_s = started.elapsed().as_secs_f64();
    progress.window("run", args.duration.as_secs());
    let end = started + args.duration;
    while Instant::now() < end {
        let next = (Instant::now() + Duration::from_secs(1)).min(end);
        tokio::time::sleep_until(next).await;
        let elapsed = started.elapsed().as_secs();
        progress.update(elapsed, live_line(&crowds));
    }
    tasks.shutdown().await;
    drop(settings);
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let lanes = crowds
        .iter()
        .map(|c| (c.kind, WatchedLane::read(c, seconds)))
        .collect();
    let pollpush = crowds.iter().any(|c| c.pollpush.load(Relaxed));
    Ok(WatchedReport {
        runs: vec![WatchedRun {
            poll_url: connect.poll.clone(),
            push_url: connect.push.clone(),
            pollers: count(&clients, LaneKind::UrlPoll),
            subscribers: clients
                .iter()
                .filter(|(kind, _)| matches!(kind, LaneKind::Feed(_)))
                .map(|(_, n)| n)
                .sum(),
            interval_ms: connect.interval.as_millis() as u64,
            duration_s: args.duration.as_secs_f64(),
            ramp_s: (ramp_s * 10.0).round() / 10.0,
            server: ServerNotMeasured::new(pollpush),
            lanes: LaneMap(lanes),
        }],
    })
}

/// The flags that only make sense against a pollpush server.
fn refuse_server_flags(args: &LoadArgs) -> anyhow::Result<()> {
    let refused = [
        (args.spawn_server, "--spawn-server"),
        (args.sweep.is_some(), "--sweep"),
        (args.map.map, "--map"),
        (args.longpollers > 0, "--longpollers"),
        (args.sse_subscribers > 0, "--sse"),
        (args.socketio_subscribers > 0, "--socketio"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        bail!(
            "{flag} is for a pollpush server (--server); against --poll/--push give \
             --pollers N and/or --subscribers N (whatever the feed's protocol)"
        );
    }
    Ok(())
}

/// The lanes and their client counts: `--pollers` of the `--poll` URL,
/// `--subscribers` of the `--push` feed.
fn clients(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<Vec<(LaneKind, usize)>> {
    if args.pollers > 0 && connect.poll.is_none() {
        bail!("--pollers poll the --poll URL: give --poll URL, or drop --pollers");
    }
    if args.subscribers > 0 && connect.push.is_none() {
        bail!("--subscribers listen to the --push feed: give --push URL, or drop --subscribers");
    }
    let clients: Vec<(LaneKind, usize)> = connect
        .lanes()
        .kinds
        .into_iter()
        .map(|kind| match kind {
            LaneKind::UrlPoll => (kind, args.pollers),
            _ => (kind, args.subscribers),
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    if clients.is_empty() {
        bail!("nothing to load: give --pollers N (of --poll) and/or --subscribers N (of --push)");
    }
    Ok(clients)
}

fn count(clients: &[(LaneKind, usize)], kind: LaneKind) -> usize {
    clients
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, n)| n)
        .sum()
}

fn live_line(crowds: &[Arc<Crowd>]) -> String {
    let mut errors = 0;
    let mut parts: Vec<String> = crowds
        .iter()
        .map(|c| {
            errors += c.errors.load(Relaxed);
            let connected = c.connected.load(Relaxed);
            let updates = c.updates.load(Relaxed);
            let name = c.kind.name();
            format!("{name} {connected}/{} up, {updates} updates", c.clients)
        })
        .collect();
    parts.push(format!("errors {errors}"));
    parts.join(", ")
}
