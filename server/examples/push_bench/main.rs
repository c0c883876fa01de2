//! The cost of push (issue 4): write-to-last-subscriber latency, lost or
//! out-of-order deliveries and RSS per idle subscriber, for `pollpush-server`
//! and for the stock-`warp::ws()` baseline, each a separately spawned process.
//!
//! For each N and each server: start a fresh server, connect N subscribers,
//! read its RSS before and after, make `--writes` paced writes and time each
//! from just before the write request to its arrival at the last subscriber.
//!
//! ```sh
//! cargo build --release -p pollpush-server --bins --examples
//! target/release/examples/push_bench --subscribers 100,1000,10000
//! ```
//! (`bench/push.sh` does both.)

mod crowd;
mod dial;
mod raw;
// Shared with lanes_bench, which uses parts push_bench does not.
#[allow(dead_code)]
mod target;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;

use crate::crowd::Tracker;
use crate::target::{Kind, Target};

/// Push latency, delivery and memory of pollpush against a stock warp::ws() baseline.
#[derive(Debug, Parser)]
struct Cli {
    /// Subscriber counts to measure, in order.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    subscribers: Vec<usize>,
    /// Writes per run.
    #[arg(long, default_value_t = 40)]
    writes: usize,
    /// Pause after each write has reached every subscriber, in ms.
    #[arg(long, default_value_t = 50)]
    gap_ms: u64,
    /// WebSocket handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Servers to measure: `file` (pollpush on a SQLite file), `memory` (pollpush,
    /// `--db :memory:`), `tls` (pollpush, `--db :memory: --tls-self-signed`, clients over
    /// TLS), `baseline` (stock warp::ws()), `node` (Node.js with the `ws` package,
    /// `bench/node_ws_server.js`; `npm install` in bench/ first).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "file,memory,baseline,node"
    )]
    servers: Vec<String>,
    /// The pollpush-server binary (default: next to this example's folder).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The stock_warp_ws binary (default: next to this example).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// After the handshake and snapshot, read frames straight off the socket instead of
    /// through tungstenite: a lighter client, so 10,000 of them pace the run less.
    #[arg(long)]
    raw_clients: bool,
    /// Start the pollpush servers with this --write-token and send it with each write,
    /// to measure a guarded server.
    #[arg(long, env = "POLLPUSH_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// What one (server, N) run measured.
struct Run {
    kind: Kind,
    subscribers: usize,
    latency_us: Histogram<u64>,
    /// From just before the write request to its answer.
    ack_us: Histogram<u64>,
    /// Writes that did not reach every subscriber within the deadline.
    undelivered: usize,
    out_of_order: u64,
    resyncs: u64,
    dropped: u64,
    behind: usize,
    rss_per_subscriber: f64,
    connect_s: f64,
    cpu_ms_per_write: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let most = cli.subscribers.iter().max().copied().unwrap_or(0);
    target::raise_fd_limit(most as u64 + 256)?;
    let server = target::built_binary(cli.server.as_ref(), "pollpush-server")?;
    let baseline = target::built_binary(cli.baseline.as_ref(), "stock_warp_ws")?;
    let node = PathBuf::from("node");
    let mut runs = Vec::new();
    for &n in &cli.subscribers {
        let targets = [
            (Kind::Pollpush, &server),
            (Kind::PollpushMemory, &server),
            (Kind::PollpushTls, &server),
            (Kind::Baseline, &baseline),
            (Kind::Node, &node),
        ];
        for (kind, exe) in targets {
            if !cli.servers.iter().any(|s| s == kind.flag()) {
                continue;
            }
            eprintln!("== {} with {n} subscribers", kind.name());
            let run = measure(kind, exe, n, &cli)
                .await
                .with_context(|| format!("{} with {n} subscribers", kind.name()))?;
            runs.push(run);
        }
    }
    report(&runs);
    Ok(())
}

async fn measure(kind: Kind, exe: &Path, n: usize, cli: &Cli) -> anyhow::Result<Run> {
    let mut target = Target::spawn(kind, exe, cli.token.as_deref()).await?;
    let rss_before = target.warmed_up_rss().await?;

    let tracker = Arc::new(Tracker::new(cli.writes));
    let started = std::time::Instant::now();
    let connect_deadline = Duration::from_secs(30 + n as u64 / 50);
    let crowd = crowd::connect(
        target.dial(),
        n,
        cli.concurrency,
        cli.raw_clients,
        &tracker,
        connect_deadline,
    )
    .await?;
    let connect_s = started.elapsed().as_secs_f64();
    let rss_after = target.settled_rss(rss_before, connect_s).await?;

    tracker.start_at(crowd.revision);
    let gap = Duration::from_millis(cli.gap_ms);
    let timed = writes::timed(&mut target, &tracker, n, cli.writes, gap, async |_| Ok(())).await?;
    timed.log();
    let writes::Timed {
        latency_us,
        ack_us,
        undelivered,
        cpu_ms_per_write,
    } = timed;
    let final_revision = crowd.revision + cli.writes as u64;
    let behind = crowd.finish(final_revision).await?;
    target.stop().await;
    let rss_per_subscriber = rss_after.saturating_sub(rss_before) as f64 / n.max(1) as f64;
    Ok(Run {
        kind,
        subscribers: n,
        latency_us,
        ack_us,
        undelivered,
        out_of_order: tracker
            .out_of_order
            .load(std::sync::atomic::Ordering::Relaxed),
        resyncs: tracker.resyncs.load(std::sync::atomic::Ordering::Relaxed),
        dropped: tracker.dropped.load(std::sync::atomic::Ordering::Relaxed),
        behind,
        rss_per_subscriber,
        connect_s,
        cpu_ms_per_write,
    })
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1_000.0)
}

fn report(runs: &[Run]) {
    println!(
        "| server | subscribers | p50 ms | p99 ms | max ms | write answered p50 ms | server CPU ms/write | lost or out of order | RSS per idle subscriber | connect s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let bad = r.out_of_order + r.resyncs + r.dropped + (r.undelivered + r.behind) as u64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {bad} | {:.1} KB | {:.1} |",
            r.kind.name(),
            r.subscribers,
            ms(r.latency_us.value_at_quantile(0.5)),
            ms(r.latency_us.value_at_quantile(0.99)),
            ms(r.latency_us.max()),
            ms(r.ack_us.value_at_quantile(0.5)),
            r.cpu_ms_per_write,
            r.rss_per_subscriber / 1_000.0,
            r.connect_s,
        );
    }
    println!();
    for base in [Kind::Baseline, Kind::Node] {
        print_ratios(runs, base);
    }
    print_tls(runs);
}

/// The run of `kind` with as many subscribers as `like`.
fn at_count<'a>(runs: &'a [Run], kind: Kind, like: &Run) -> Option<&'a Run> {
    runs.iter()
        .find(|r| r.kind == kind && r.subscribers == like.subscribers)
}

/// `a`'s write-to-last-subscriber latency at quantile `q` over `b`'s.
fn latency_ratio(a: &Run, b: &Run, q: f64) -> f64 {
    a.latency_us.value_at_quantile(q) as f64 / b.latency_us.value_at_quantile(q).max(1) as f64
}

/// Each TLS run against the plaintext `:memory:` run at the same subscriber
/// count: the cost of encrypting the fan-out (issue 20's target: within 1.5×).
fn print_tls(runs: &[Run]) {
    let pairs: Vec<(&Run, &Run)> = runs
        .iter()
        .filter(|r| r.kind == Kind::PollpushTls)
        .filter_map(|tls| Some((tls, at_count(runs, Kind::PollpushMemory, tls)?)))
        .collect();
    if pairs.is_empty() {
        return;
    }
    println!();
    println!(
        "| subscribers | p50: TLS / plaintext | p99: TLS / plaintext | CPU per write: TLS / plaintext | RSS per subscriber: TLS / plaintext |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for (tls, plain) in pairs {
        println!(
            "| {} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
            tls.subscribers,
            latency_ratio(tls, plain, 0.5),
            latency_ratio(tls, plain, 0.99),
            tls.cpu_ms_per_write / plain.cpu_ms_per_write.max(f64::EPSILON),
            tls.rss_per_subscriber / plain.rss_per_subscriber.max(1.0),
        );
    }
}

/// Each pollpush run against `base` at the same subscriber count, as ratios.
fn print_ratios(runs: &[Run], base: Kind) {
    if !runs.iter().any(|r| r.kind == base) {
        return;
    }
    println!();
    println!(
        "| subscribers | pollpush | p50: {0} / pollpush | p99: {0} / pollpush | RSS per subscriber: {0} / pollpush |",
        base.name()
    );
    println!("|---:|---|---:|---:|---:|");
    for r in runs
        .iter()
        .filter(|r| matches!(r.kind, Kind::Pollpush | Kind::PollpushMemory))
    {
        let Some(b) = at_count(runs, base, r) else {
            continue;
        };
        println!(
            "| {} | {} | {:.2}× | {:.2}× | {:.1}× |",
            r.subscribers,
            r.kind.name(),
            latency_ratio(b, r, 0.5),
            latency_ratio(b, r, 0.99),
            b.rss_per_subscriber / r.rss_per_subscriber.max(1.0),
        );
    }
}
