//! Latency of `GET` at a fixed request rate (what `wrk2` does; Debian has no `wrk2`).
//!
//! Requests start on a fixed schedule over a pool of keep-alive connections
//! (a new one opens whenever all are busy, so a slow answer never delays the
//! next request: no coordinated omission). Each is timed from when it was sent;
//! how late sends were against the schedule (tokio's timer has 1 ms ticks, and
//! the machine is shared) is reported apart, as `send lag`.
//!
//! ```sh
//! cargo run --release -p pollpush-server --example paced_get -- \
//!     --url http://127.0.0.1:5000/species/ --rate 200 --seconds 10
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::sync::mpsc;

/// GET one URL at a fixed rate and report latency percentiles.
#[derive(Debug, Parser)]
struct Cli {
    /// The URL to GET.
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// How long to measure, after the warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up seconds, not measured.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider of its own (see tls::install_crypto).
    pollpush_server::tls::install_crypto();
    let cli = Cli::parse();
    anyhow::ensure!(cli.rate > 0, "--rate must be positive");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("http client")?;
    let period = Duration::from_secs(1) / cli.rate;
    let total = u64::from(cli.rate) * (cli.warmup + cli.seconds);
    let measured_from = u64::from(cli.rate) * cli.warmup;
    let (tx, mut rx) = mpsc::unbounded_channel::<anyhow::Result<(Duration, Duration)>>();
    let mut ticks = tokio::time::interval(period);
    let start = Instant::now();
    for i in 0..total {
        ticks.tick().await;
        let scheduled = start + period * u32::try_from(i).context("too many requests")?;
        let (client, url, tx) = (client.clone(), cli.url.clone(), tx.clone());
        tokio::spawn(async move {
            let result = async {
                let sent = Instant::now();
                let response = client.get(&url).send().await?.error_for_status()?;
                response.bytes().await?;
                Ok((sent.elapsed(), sent.saturating_duration_since(scheduled)))
            }
            .await;
            if i >= measured_from {
                let _ = tx.send(result);
            }
        });
    }
    drop(tx);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut lag = latency.clone();
    let mut errors = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(result)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match result {
            Ok((d, late)) => {
                latency.record((d.as_micros() as u64).max(1))?;
                lag.record((late.as_micros() as u64).max(1))?;
            }
            Err(_) => errors += 1,
        }
    }
    let ms = |us: u64| us as f64 / 1_000.0;
    println!(
        "rate {}/s for {} s: {} ok, {errors} errors; p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms; send lag p50 {:.3} ms, p99 {:.3} ms",
        cli.rate,
        cli.seconds,
        latency.len(),
        ms(latency.value_at_quantile(0.5)),
        ms(latency.value_at_quantile(0.9)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.value_at_quantile(0.999)),
        ms(latency.max()),
        ms(lag.value_at_quantile(0.5)),
        ms(lag.value_at_quantile(0.99)),
    );
    Ok(())
}
