//! What spreading push over several nodes costs: the time from a write on
//! node A to its arrival at the last `/ws` subscriber of every node (p50,
//! p99), lost and out-of-order deliveries, and server CPU per change per
//! node, for one SQLite node, one PostgreSQL node, three nodes over
//! PostgreSQL + Redis, and the same three with Redis killed for the middle
//! third of the writes. Every node is a separate `pollpush-server` process.
//!
//! ```sh
//! bench/cluster.sh                     # 1,000 subscribers per node, 200 writes
//! bench/cluster.sh --subscribers 100 --writes 50
//! ```

#[path = "../push_bench/crowd.rs"]
mod crowd;
// Shared with push_bench, which also dials over TLS.
#[allow(dead_code)]
#[path = "../push_bench/dial.rs"]
mod dial;
mod nodes;
#[path = "../push_bench/raw.rs"]
mod raw;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;

use crate::crowd::Tracker;
use crate::nodes::{Database, Node, Redis};

/// Cross-node push latency and loss, against one node on SQLite and on PostgreSQL.
#[derive(Debug, Parser)]
struct Cli {
    /// Subscribers on each node.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Writes per scenario, all on node A.
    #[arg(long, default_value_t = 200)]
    writes: usize,
    /// Pause after each write has reached every subscriber, in ms.
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// Scenarios to run: sqlite, postgres, cluster, outage.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sqlite,postgres,cluster,outage"
    )]
    scenarios: Vec<String>,
    /// PostgreSQL to make the benchmark's databases in.
    #[arg(
        long,
        env = "POLLPUSH_TEST_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// The pollpush-server binary (default: beside this example's folder).
    #[arg(long)]
    server: Option<std::path::PathBuf>,
}

/// How long one write may take to reach everyone before it counts as lost.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// One node's share of a scenario.
struct NodeRun {
    latency_us: Histogram<u64>,
    lost: u64,
    cpu_ms_per_change: f64,
}

struct Scenario {
    name: &'static str,
    nodes: Vec<NodeRun>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider of its own (see tls::install_crypto).
    pollpush_server::tls::install_crypto();
    let cli = Cli::parse();
    let here = std::env::current_exe().context("own path")?;
    let server = cli.server.clone().unwrap_or_else(|| {
        here.parent().map_or_else(
            || "pollpush-server".into(),
            |d| d.with_file_name("pollpush-server"),
        )
    });
    anyhow::ensure!(
        server.exists(),
        "{} is missing: cargo build --release",
        server.display()
    );
    let mut results = Vec::new();
    for scenario in &cli.scenarios {
        let run = match scenario.as_str() {
            "sqlite" => run(&cli, &server, "1 node, SQLite", 1, None, false).await,
            "postgres" => run(&cli, &server, "1 node, PostgreSQL", 1, Some(()), false).await,
            "cluster" => {
                run(
                    &cli,
                    &server,
                    "3 nodes, PostgreSQL + Redis",
                    3,
                    Some(()),
                    false,
                )
                .await
            }
            "outage" => {
                run(
                    &cli,
                    &server,
                    "3 nodes, Redis killed for a third of the writes",
                    3,
                    Some(()),
                    true,
                )
                .await
            }
            other => anyhow::bail!("unknown scenario {other}"),
        };
        results.push(run.with_context(|| format!("scenario {scenario}"))?);
    }
    report(&results);
    Ok(())
}

async fn run(
    cli: &Cli,
    server: &std::path::Path,
    name: &'static str,
    count: usize,
    postgres: Option<()>,
    outage: bool,
) -> anyhow::Result<Scenario> {
    eprintln!("== {name}, {} subscribers per node", cli.subscribers);
    let db = match postgres {
        Some(()) => Some(Database::create(&cli.postgres).await?),
        None => None,
    };
    let mut redis = if count > 1 {
        Some(Redis::start().await?)
    } else {
        None
    };
    let store = db.as_ref().map(|d| d.url.clone());
    let broker = redis.as_ref().map(Redis::url);
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(Node::spawn(server, store.as_deref(), broker.as_deref()).await?);
    }
    nodes[0].write().await?; // warm up lazily built state
    // Every node serves the warm-up write before its crowd subscribes.
    let warm = nodes[0].revision().await?;
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    for node in &nodes {
        while node.revision().await? < warm {
            anyhow::ensure!(
                tokio::time::Instant::now() < until,
                "a node never caught up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let mut trackers = Vec::new();
    let mut crowds = Vec::new();
    for node in &nodes {
        let tracker = Arc::new(Tracker::new(cli.writes));
        let deadline = Duration::from_secs(30 + cli.subscribers as u64 / 50);
        let crowd =
            crowd::connect(&node.dial(), cli.subscribers, 64, true, &tracker, deadline).await?;
        trackers.push(tracker);
        crowds.push(crowd);
    }
    let start = crowds.iter().map(|c| c.revision).max().unwrap_or(0);
    anyhow::ensure!(
        crowds.iter().all(|c| c.revision == start),
        "nodes subscribed their crowds at different revisions"
    );
    for t in &trackers {
        t.start_at(start);
    }
    let mut latency: Vec<Histogram<u64>> = (0..count)
        .map(|_| Histogram::new_with_bounds(1, 600_000_000, 3))
        .collect::<Result<_, _>>()?;
    let mut lost = vec![0_u64; count];
    let cpu_before: Vec<f64> = nodes
        .iter()
        .map(Node::cpu_seconds)
        .collect::<Result<_, _>>()?;
    let clock = &trackers[0];
    for i in 0..cli.writes {
        if outage && i == cli.writes / 3 {
            eprintln!("   killing Redis");
            redis.as_mut().context("no Redis")?.kill();
        }
        if outage && i == 2 * cli.writes / 3 {
            eprintln!("   restarting Redis");
            redis.as_mut().context("no Redis")?.restart().await?;
        }
        let issued = clock.now();
        nodes[0].write().await?;
        let until = tokio::time::Instant::now() + WRITE_DEADLINE;
        for (n, tracker) in trackers.iter().enumerate() {
            while tracker.delivered(i) < cli.subscribers && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            if tracker.delivered(i) < cli.subscribers {
                lost[n] += 1;
            } else {
                // Trackers share no clock base: convert through `issued`'s offset.
                let offset = i128::from(tracker.now()) - i128::from(clock.now());
                let arrival = i128::from(tracker.last_arrival(i)) - offset;
                latency[n].record(((arrival - i128::from(issued)) / 1_000).max(1) as u64)?;
            }
        }
        tokio::time::sleep(Duration::from_millis(cli.gap_ms)).await;
    }
    let final_revision = start + cli.writes as u64;
    let mut runs = Vec::new();
    for (n, ((crowd, tracker), node)) in crowds.into_iter().zip(&trackers).zip(&nodes).enumerate() {
        let cpu = node.cpu_seconds()? - cpu_before[n];
        let behind = crowd.finish(final_revision).await? as u64;
        let bad = tracker
            .out_of_order
            .load(std::sync::atomic::Ordering::Relaxed)
            + tracker.resyncs.load(std::sync::atomic::Ordering::Relaxed)
            + tracker.dropped.load(std::sync::atomic::Ordering::Relaxed);
        let hist = latency[n].clone();
        eprintln!(
            "   node {}: p50 {} µs, p99 {} µs, lost {}",
            node_name(n),
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
            lost[n] + behind + bad
        );
        runs.push(NodeRun {
            latency_us: hist,
            lost: lost[n] + behind + bad,
            cpu_ms_per_change: cpu * 1_000.0 / cli.writes as f64,
        });
    }
    for node in nodes {
        node.stop().await;
    }
    drop(db);
    Ok(Scenario { name, nodes: runs })
}

fn node_name(n: usize) -> char {
    (b'A' + n as u8) as char
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1_000.0)
}

fn report(results: &[Scenario]) {
    println!(
        "| scenario | node | p50 ms | p99 ms | max ms | lost or out of order | server CPU ms/change |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for s in results {
        for (n, r) in s.nodes.iter().enumerate() {
            println!(
                "| {} | {}{} | {} | {} | {} | {} | {:.2} |",
                s.name,
                node_name(n),
                if n == 0 { " (writes here)" } else { "" },
                ms(r.latency_us.value_at_quantile(0.5)),
                ms(r.latency_us.value_at_quantile(0.99)),
                ms(r.latency_us.max()),
                r.lost,
                r.cpu_ms_per_change,
            );
        }
    }
    let p99 = |name: &str, n: usize| {
        results
            .iter()
            .find(|s| s.name.starts_with(name))
            .and_then(|s| s.nodes.get(n))
            .map(|r| r.latency_us.value_at_quantile(0.99))
    };
    // The same cluster's writer node: what the broker hop adds, with the
    // machine's load (three nodes, 3x the subscribers) the same on both sides.
    if let (Some(a), Some(b)) = (p99("3 nodes, PostgreSQL", 0), p99("3 nodes, PostgreSQL", 1)) {
        let hop = b as f64 / 1_000.0 - a as f64 / 1_000.0;
        println!(
            "\ncross-node p99 (node B) minus the writer node's own p99 (node A), same run: {hop:+.2} ms"
        );
    }
    if let (Some(single), Some(b)) = (p99("1 node, PostgreSQL", 0), p99("3 nodes, PostgreSQL", 1)) {
        let gap = b as f64 / 1_000.0 - single as f64 / 1_000.0;
        println!(
            "cross-node p99 (node B) minus single-node PostgreSQL p99: {gap:+.2} ms (target <= +5 ms: {})",
            if gap <= 5.0 { "met" } else { "NOT met" }
        );
    }
}
