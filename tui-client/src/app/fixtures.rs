//! Fixed times and data for the tests of `update` and of rendering.

use chrono::{DateTime, TimeDelta, Utc};
use pollpush_shared::{ServerStats, Species};

use crate::event::Event;

/// `ms` milliseconds after a fixed instant.
pub fn t(ms: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .expect("valid")
        .with_timezone(&Utc)
        + TimeDelta::milliseconds(ms)
}

const NAMES: [&str; 6] = ["AThaliana", "Tomate", "Riz", "Maïs", "Blé", "Vigne"];

/// A species last updated at `at_ms`.
pub fn species(id: u64, observations: u64, at_ms: i64) -> Species {
    Species {
        id,
        name: NAMES[(id as usize - 1) % NAMES.len()].to_owned(),
        observations,
        updated_at: t(at_ms),
    }
}

/// A `/stats` answer received at `at_ms` from a server up for `uptime_s` that used `cpu_seconds`.
pub fn stats(
    at_ms: i64,
    uptime_s: f64,
    cpu_seconds: f64,
    edit: impl FnOnce(&mut ServerStats),
) -> Event {
    let mut stats = ServerStats {
        uptime_s,
        ..Default::default()
    };
    stats.process.cpu_seconds = cpu_seconds;
    edit(&mut stats);
    Event::Stats {
        at: t(at_ms),
        result: Ok(Box::new(stats)),
    }
}
