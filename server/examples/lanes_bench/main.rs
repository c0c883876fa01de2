//! The cost of each push lane, in one run: for N clients per lane, the
//! write-to-last-client latency of SSE and of held long-polls against `/ws`,
//! the server's RSS per idle subscriber (per held long-poll), and lost or
//! out-of-order deliveries. Each lane gets a fresh `pollpush-server --db
//! :memory:` process, so one lane's memory is not another's.
//!
//! ```sh
//! bench/lanes.sh --clients 1000,10000     # builds, lifts ulimit -n, runs this
//! ```
//! It reuses push_bench's subscribers, server handling and timed writes.

#[path = "../push_bench/crowd.rs"]
mod crowd;
#[path = "../push_bench/dial.rs"]
mod dial;
mod http;
mod longpoll;
#[path = "../push_bench/raw.rs"]
mod raw;
mod report;
mod sse;
mod sse_h2;
// Shared with push_bench, which uses parts this bench does not.
#[allow(dead_code)]
#[path = "../push_bench/target.rs"]
mod target;
#[path = "../push_bench/writes.rs"]
mod writes;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::crowd::Tracker;
use crate::report::{Lane, Run};
use crate::target::{Kind, Target};

/// SSE and long-poll fan-out latency and memory against /ws, one fresh server per lane.
#[derive(Debug, Parser)]
struct Cli {
    /// Clients per lane, in order.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    clients: Vec<usize>,
    /// Lanes to measure: ws, sse, sse-h2 (SSE over h2c, `--h2-streams` per
    /// connection), longpoll.
    #[arg(long, value_delimiter = ',', default_value = "ws,sse,longpoll")]
    lanes: Vec<Lane>,
    /// Writes per run.
    #[arg(long, default_value_t = 30)]
    writes: usize,
    /// Pause after each write has reached every client, in ms.
    #[arg(long, default_value_t = 50)]
    gap_ms: u64,
    /// Connections opened at once while connecting.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// SSE streams multiplexed on each h2c connection in the sse-h2 lane.
    #[arg(long, default_value_t = 100)]
    h2_streams: usize,
    /// The pollpush-server binary (default: next to this example's folder).
    #[arg(long)]
    server: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider of its own (see tls::install_crypto).
    pollpush_server::tls::install_crypto();
    let cli = Cli::parse();
    let most = cli.clients.iter().max().copied().unwrap_or(0);
    target::raise_fd_limit(most as u64 + 256)?;
    let server = target::built_binary(cli.server.as_ref(), "pollpush-server")?;
    let mut runs = Vec::new();
    for &n in &cli.clients {
        for &lane in &cli.lanes {
            eprintln!("== {} with {n} clients", lane.name());
            let run = measure(lane, &server, n, &cli)
                .await
                .with_context(|| format!("{} with {n} clients", lane.name()))?;
            runs.push(run);
        }
    }
    report::print(&runs);
    Ok(())
}

async fn measure(lane: Lane, exe: &std::path::Path, n: usize, cli: &Cli) -> anyhow::Result<Run> {
    let mut target = Target::spawn(Kind::PollpushMemory, exe, None).await?;
    let rss_before = target.warmed_up_rss().await?;

    let tracker = Arc::new(Tracker::new(cli.writes));
    let started = std::time::Instant::now();
    let deadline = Duration::from_secs(30 + n as u64 / 50);
    let addr = target.addr().to_owned();
    let c = cli.concurrency;
    let crowd = match lane {
        Lane::Ws => crowd::connect(target.dial(), n, c, true, &tracker, deadline).await?,
        Lane::Sse => {
            let subscriber = |start| sse::subscriber(addr.clone(), tracker.clone(), start);
            crowd::spawn(n, c, deadline, subscriber).await?
        }
        Lane::SseH2 => {
            let connections = Arc::new(sse_h2::Connections::new(&addr, n, cli.h2_streams));
            let mut stream = 0;
            let subscriber = |start| {
                stream += 1;
                sse_h2::subscriber(connections.clone(), stream - 1, tracker.clone(), start)
            };
            crowd::spawn(n, c, deadline, subscriber).await?
        }
        Lane::LongPoll => {
            let poller = |start| longpoll::poller(addr.clone(), tracker.clone(), start);
            let crowd = crowd::spawn(n, c, deadline, poller).await?;
            longpoll::all_held(&target, n).await?;
            crowd
        }
    };
    let connect_s = started.elapsed().as_secs_f64();
    let rss_after = target.settled_rss(rss_before, connect_s).await?;

    tracker.start_at(crowd.revision);
    let gap = Duration::from_millis(cli.gap_ms);
    let timed = writes::timed(&mut target, &tracker, n, cli.writes, gap, async |t| {
        if lane == Lane::LongPoll {
            longpoll::all_held(t, n).await?;
        }
        Ok(())
    })
    .await?;
    let final_revision = crowd.revision + cli.writes as u64;
    let behind = crowd.finish(final_revision).await?;
    target.stop().await;
    timed.log();
    Ok(Run {
        lane,
        clients: n,
        lost_or_out_of_order: tracker.out_of_order.load(Relaxed)
            + tracker.resyncs.load(Relaxed)
            + tracker.dropped.load(Relaxed)
            + (timed.undelivered + behind) as u64,
        timed,
        rss_per_client: rss_after.saturating_sub(rss_before) as f64 / n.max(1) as f64,
        connect_s,
    })
}
