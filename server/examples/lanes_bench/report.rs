//! The lanes benchmark's tables: one row per (lane, N), then each lane
//! against `/ws` at the same N, from the same invocation.

use crate::writes::Timed;

/// A lane under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lane {
    Ws,
    Sse,
    #[value(name = "sse-h2")]
    SseH2,
    #[value(name = "longpoll")]
    LongPoll,
}

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Ws => "/ws",
            Lane::Sse => "SSE",
            Lane::SseH2 => "SSE over h2c",
            Lane::LongPoll => "long-poll",
        }
    }
}

/// What one (lane, N) run measured.
pub struct Run {
    pub lane: Lane,
    pub clients: usize,
    pub timed: Timed,
    /// Out of order, resyncs, dropped connections, undelivered writes and
    /// clients not at the final revision, together.
    pub lost_or_out_of_order: u64,
    pub rss_per_client: f64,
    pub connect_s: f64,
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1_000.0)
}

pub fn print(runs: &[Run]) {
    println!(
        "| lane | clients | p50 ms | p99 ms | max ms | write answered p50 ms | server CPU ms/write | lost or out of order | RSS per idle client | connect s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let l = &r.timed.latency_us;
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} | {:.1} KB | {:.1} |",
            r.lane.name(),
            r.clients,
            ms(l.value_at_quantile(0.5)),
            ms(l.value_at_quantile(0.99)),
            ms(l.max()),
            ms(r.timed.ack_us.value_at_quantile(0.5)),
            r.timed.cpu_ms_per_write,
            r.lost_or_out_of_order,
            r.rss_per_client / 1_000.0,
            r.connect_s,
        );
    }
    ratios(runs, Lane::Ws, |r| r != Lane::Ws);
    ratios(runs, Lane::Sse, |r| r == Lane::SseH2);
}

/// Each lane that `against` picks, against `base` at the same N, as ratios.
fn ratios(runs: &[Run], base: Lane, against: impl Fn(Lane) -> bool) {
    let pairs: Vec<(&Run, &Run)> = runs
        .iter()
        .filter(|r| against(r.lane))
        .filter_map(|r| {
            let b = runs
                .iter()
                .find(|b| b.lane == base && b.clients == r.clients)?;
            Some((r, b))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let name = base.name();
    println!();
    println!(
        "| lane | clients | p50: lane / {name} | p99: lane / {name} | CPU per write: lane / {name} | RSS per client: lane / {name} |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (r, b) in pairs {
        let ratio = |q: f64| {
            r.timed.latency_us.value_at_quantile(q) as f64
                / b.timed.latency_us.value_at_quantile(q).max(1) as f64
        };
        println!(
            "| {} | {} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
            r.lane.name(),
            r.clients,
            ratio(0.5),
            ratio(0.99),
            r.timed.cpu_ms_per_write / b.timed.cpu_ms_per_write.max(f64::EPSILON),
            r.rss_per_client / b.rss_per_client.max(1.0),
        );
    }
}
