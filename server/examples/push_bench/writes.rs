//! The timed writes: one at a time, each from just before its HTTP request to
//! its arrival at the last of `n` subscribers. Shared by `push_bench` and
//! `lanes_bench`, so every lane's latency is the same measurement.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::crowd::Tracker;
use crate::target::Target;

/// How long one write may take to reach everyone before it counts as undelivered.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// What the writes measured.
pub struct Timed {
    /// Write to its arrival at the last subscriber, in µs.
    pub latency_us: Histogram<u64>,
    /// From just before the write request to its answer, in µs.
    pub ack_us: Histogram<u64>,
    /// Writes that did not reach every subscriber within the deadline.
    pub undelivered: usize,
    pub cpu_ms_per_write: f64,
}

impl Timed {
    /// One line on stderr while the benchmark runs.
    pub fn log(&self) {
        let l = &self.latency_us;
        eprintln!(
            "   p50 {} µs, p99 {} µs, max {} µs",
            l.value_at_quantile(0.5),
            l.value_at_quantile(0.99),
            l.max()
        );
    }
}

/// Makes `writes` writes, each after `ready()` has returned (long-pollers must
/// be held again before the next write) and followed by a `gap` pause.
pub async fn timed(
    target: &mut Target,
    tracker: &Tracker,
    n: usize,
    writes: usize,
    gap: Duration,
    mut ready: impl AsyncFnMut(&Target) -> anyhow::Result<()>,
) -> anyhow::Result<Timed> {
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut ack_us = latency_us.clone();
    let mut undelivered = 0;
    let cpu_before = target.cpu_seconds()?;
    for i in 0..writes {
        ready(target).await?;
        let issued = tracker.now();
        target.write().await?;
        ack_us.record(((tracker.now() - issued) / 1_000).max(1))?;
        let until = tokio::time::Instant::now() + WRITE_DEADLINE;
        while tracker.delivered(i) < n && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        if tracker.delivered(i) < n {
            undelivered += 1;
        } else {
            let us = tracker.last_arrival(i).saturating_sub(issued) / 1_000;
            latency_us.record(us.max(1))?;
        }
        tokio::time::sleep(gap).await;
    }
    let cpu_ms_per_write = (target.cpu_seconds()? - cpu_before) * 1_000.0 / writes.max(1) as f64;
    Ok(Timed {
        latency_us,
        ack_us,
        undelivered,
        cpu_ms_per_write,
    })
}
