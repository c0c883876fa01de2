//! The churn soak (issue 19): `/ws` subscribers that keep dropping and
//! resubscribing with `since`, some of them reading more slowly than changes
//! arrive, REST writers keeping the data set small, and the server's memory
//! and push latency sampled every `--sample` for `--duration`.
//!
//! It checks delivery as it goes (every subscriber gap-free and duplicate-free,
//! or resynced with a snapshot) and ends with a CSV of samples, an SVG chart
//! and a verdict on the issue's two targets: RSS at the end within 10 % of RSS
//! at 5 minutes, and the fast subscribers' p99 latency at the end no worse
//! than at the start.
//!
//! ```sh
//! bench/soak.sh --duration 30m     # builds, starts the server, runs this
//! ```

mod chart;
mod subscriber;
mod writers;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use pollpush_shared::ServerStats;

use crate::subscriber::Tally;

/// Reconnect churn against a running pollpush-server, with memory sampled.
#[derive(Debug, Parser)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    server: String,
    /// `/ws` subscribers.
    #[arg(long, default_value_t = 200)]
    subscribers: usize,
    /// The room they subscribe to: the species, or an upstream feed's name
    /// (`pollpush-server --feed NAME=URL`; then `--writers 0`).
    #[arg(long, default_value = "species")]
    room: String,
    /// Of those, how many read slowly (`--slow-rate` messages a second at most).
    #[arg(long, default_value_t = 50)]
    slow: usize,
    #[arg(long, default_value_t = 40)]
    slow_rate: u32,
    /// REST writers (POST, PUT, DELETE), each `--write-rate` writes a second.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    #[arg(long, default_value_t = 20)]
    write_rate: u32,
    /// The write token, if the server has one.
    #[arg(long)]
    token: Option<String>,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
    duration: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    sample: Duration,
    /// Where to write the samples (CSV) and the chart (SVG).
    #[arg(long, default_value = "soak.csv")]
    csv: PathBuf,
    #[arg(long, default_value = "soak.svg")]
    chart: PathBuf,
    /// A label for the chart and the report (e.g. the allocator).
    #[arg(long, default_value = "pollpush")]
    label: String,
}

/// One sample of the run.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub t_s: f64,
    pub rss_mb: f64,
    pub heap_mb: f64,
    pub backlog_kb: f64,
    pub replays: u64,
    pub replays_started: u64,
    pub reconnects: u64,
    pub received: u64,
    pub resyncs: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub writes: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider of its own (see tls::install_crypto).
    pollpush_server::tls::install_crypto();
    let cli = Cli::parse();
    let base = cli.server.trim_end_matches('/').to_owned();
    let http = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + cli.duration;
    let ws = format!("{}/ws", base.replacen("http", "ws", 1));
    for i in 0..cli.subscribers {
        let slow = (i < cli.slow).then_some(cli.slow_rate);
        tokio::spawn(subscriber::run(
            ws.clone(),
            cli.room.clone(),
            slow,
            tally.clone(),
            i as u64,
            deadline,
        ));
    }
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for i in 0..cli.writers {
        let w = writers::Writer::new(&base, cli.token.clone(), i as u64, writes.clone());
        tokio::spawn(w.run(cli.write_rate, deadline));
    }
    let mut csv = std::fs::File::create(&cli.csv).context("creating the CSV")?;
    writeln!(
        csv,
        "t_s,rss_mb,heap_mb,backlog_kb,replays,replays_started,reconnects,received,resyncs,gaps,duplicates,p50_ms,p99_ms,writes"
    )?;
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(cli.sample);
    tick.tick().await;
    while Instant::now() < deadline {
        tick.tick().await;
        let stats: ServerStats = http
            .get(format!("{base}/stats"))
            .send()
            .await
            .context("GET /stats: is the server up?")?
            .json()
            .await?;
        let (p50, p99) = tally.take_latency();
        let s = Sample {
            t_s: start.elapsed().as_secs_f64(),
            rss_mb: stats.process.rss_bytes as f64 / 1e6,
            heap_mb: stats.memory.heap_allocated_bytes.unwrap_or(0) as f64 / 1e6,
            backlog_kb: stats.memory.backlog_bytes as f64 / 1e3,
            replays: stats.memory.replays,
            replays_started: stats.memory.replays_started,
            reconnects: tally.reconnects(),
            received: tally.received(),
            resyncs: tally.resyncs(),
            gaps: tally.gaps(),
            duplicates: tally.duplicates(),
            p50_ms: p50,
            p99_ms: p99,
            writes: writes.load(std::sync::atomic::Ordering::Relaxed),
        };
        writeln!(
            csv,
            "{:.0},{:.1},{:.1},{:.1},{},{},{},{},{},{},{},{:.1},{:.1},{}",
            s.t_s,
            s.rss_mb,
            s.heap_mb,
            s.backlog_kb,
            s.replays,
            s.replays_started,
            s.reconnects,
            s.received,
            s.resyncs,
            s.gaps,
            s.duplicates,
            s.p50_ms,
            s.p99_ms,
            s.writes
        )?;
        csv.flush()?;
        eprintln!(
            "{:>5.0}s rss {:>6.1} MB heap {:>6.1} MB backlog {:>7.1} kB replays {:>3} reconnects {:>6} p99 {:>6.1} ms gaps {} dups {}",
            s.t_s,
            s.rss_mb,
            s.heap_mb,
            s.backlog_kb,
            s.replays,
            s.reconnects,
            s.p99_ms,
            s.gaps,
            s.duplicates
        );
        samples.push(s);
    }
    chart::draw(&cli.chart, &cli.label, &samples)?;
    report(&cli, &samples);
    Ok(())
}

/// The issue's two targets, from the samples.
fn report(cli: &Cli, samples: &[Sample]) {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return;
    };
    let at5 = samples.iter().find(|s| s.t_s >= 300.0).unwrap_or(first);
    // The first and last minute's p99s, so one noisy sample decides nothing.
    let window = (60.0 / cli.sample.as_secs_f64()).ceil().max(1.0) as usize;
    let median = |xs: &[Sample]| {
        let mut v: Vec<f64> = xs.iter().map(|s| s.p99_ms).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let p99_start = median(&samples[..window.min(samples.len())]);
    let p99_end = median(&samples[samples.len().saturating_sub(window)..]);
    println!(
        "soak {} over {:.0} s: {} reconnects, {} changes received, {} resyncs, {} gaps, {} duplicates",
        cli.label,
        last.t_s,
        last.reconnects,
        last.received,
        last.resyncs,
        last.gaps,
        last.duplicates
    );
    println!(
        "RSS at {:.0} s {:.1} MB, at the end {:.1} MB: {:.2}x (target <= 1.10)",
        at5.t_s,
        at5.rss_mb,
        last.rss_mb,
        last.rss_mb / at5.rss_mb.max(0.001)
    );
    println!(
        "fast subscribers' p99 (median of a minute's samples): first minute {p99_start:.1} ms, last minute {p99_end:.1} ms"
    );
}
