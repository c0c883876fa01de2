//! What a load against any service measured, per lane, and its JSON and CSV
//! forms. Only the client side is measurable: the service's CPU and memory
//! are its own, so the report says `n/a` rather than guessing.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use super::crowd::Crowd;
use crate::lane::{Exchange, LaneMap};
use crate::load::protocol::lock;
use crate::load::report::{Percentiles, Wire, round3};

/// Every run of one `pollpush load --poll/--push` (always one: no sweep).
#[derive(Debug, Clone, Serialize)]
pub struct WatchedReport {
    pub runs: Vec<WatchedRun>,
}

/// One run: its settings and what each lane's clients saw.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
    pub pollers: usize,
    pub subscribers: usize,
    pub interval_ms: u64,
    /// The whole run, connecting included: there is no simulator to hold
    /// back while clients connect, so updates may arrive from the first one.
    pub duration_s: f64,
    /// How long until every client had connected (or the ramp gave up).
    pub ramp_s: f64,
    pub server: ServerNotMeasured,
    /// `poll-url` and `push`, for the lanes that had clients.
    #[serde(flatten)]
    pub lanes: LaneMap<WatchedLane>,
}

/// The place of the pollpush report's server cost, saying why it is empty.
#[derive(Debug, Clone, Serialize)]
pub struct ServerNotMeasured {
    pub measured: String,
}

impl ServerNotMeasured {
    pub fn new(pollpush: bool) -> Self {
        let measured = if pollpush {
            "n/a (a pollpush server: load it with --server URL to measure its CPU and RSS)"
        } else {
            "n/a (not a pollpush server)"
        };
        Self {
            measured: measured.to_owned(),
        }
    }
}

/// What one lane's clients saw over the run.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedLane {
    pub clients: usize,
    pub connected: usize,
    /// Clients that never connected.
    pub failed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_per_s: Option<f64>,
    /// Bodies that differed from the client's previous one (pollers, the first
    /// included) or messages (push), summed over clients.
    pub updates: u64,
    /// Pollers: each request's time, connecting included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_ms: Option<Percentiles>,
    /// With `--time-field`: each update's delay on arrival, from the time its
    /// newest item says it changed (the service's clock) to the client's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<Percentiles>,
    /// Push: different updates (same event and text = same update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates_distinct: Option<u64>,
    /// Push: updates every connected subscriber got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates_to_every_subscriber: Option<u64>,
    /// Push: from the first subscriber getting an update to the last, per
    /// update two or more got; absent when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_ms: Option<Percentiles>,
    /// On the TCP sockets, TLS and framing included.
    #[serde(flatten)]
    pub wire: Wire,
    pub errors: u64,
    pub reconnects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl WatchedLane {
    /// Reads a lane's counters at the end of a run of `seconds`.
    pub fn read(crowd: &Crowd, seconds: f64) -> Self {
        let seconds = seconds.max(f64::EPSILON);
        let traffic = crowd.traffic.totals();
        let connected = crowd.connected.load(Relaxed);
        let polling = crowd.kind.exchange() == Exchange::Requests;
        let rate = |n: u64| Some(round3(n as f64 / seconds));
        let requests = polling.then(|| crowd.requests.load(Relaxed));
        let messages = (!polling).then(|| crowd.messages.load(Relaxed));
        let spread = (!polling).then(|| crowd.spread());
        Self {
            clients: crowd.clients,
            connected,
            failed: crowd.clients.saturating_sub(connected),
            requests,
            requests_per_s: requests.and_then(rate),
            messages,
            messages_per_s: messages.and_then(rate),
            updates: crowd.updates.load(Relaxed),
            request_ms: polling.then(|| Percentiles::from(&*lock(&crowd.request_time))),
            delay_ms: crowd.delay(),
            updates_distinct: spread.as_ref().map(|s| s.distinct),
            updates_to_every_subscriber: spread.as_ref().map(|s| s.to_every_subscriber),
            spread_ms: spread
                .as_ref()
                .filter(|s| s.matched > 0)
                .map(|s| Percentiles::from(&s.first_to_last)),
            wire: Wire::new(traffic, seconds, crowd.clients),
            errors: crowd.errors.load(Relaxed),
            reconnects: crowd.reconnects.load(Relaxed),
            last_error: lock(&crowd.last_error).clone(),
        }
    }
}

/// The CSV columns: one row per run and lane; a lane's missing figures are empty.
const CSV_HEADER: &str = "run,lane,clients,connected,failed,interval_ms,duration_s,requests,\
requests_per_s,messages,messages_per_s,updates,request_p50_ms,request_p99_ms,request_max_ms,\
updates_distinct,updates_to_every_subscriber,spread_p50_ms,spread_p99_ms,spread_max_ms,bytes_in,\
bytes_out,bytes_per_s,bytes_per_client_per_min,http_version,tls_version,handshakes_full,\
handshakes_resumed,errors,reconnects,server";

impl WatchedReport {
    pub fn to_csv(&self) -> String {
        let mut out = format!("{CSV_HEADER}\n");
        for (index, run) in self.runs.iter().enumerate() {
            for (kind, lane) in &run.lanes.0 {
                let cell = |v: Option<String>| v.unwrap_or_default();
                let num = |v: Option<u64>| cell(v.map(|v| v.to_string()));
                let rate = |v: Option<f64>| cell(v.map(|v| v.to_string()));
                let quantiles = |p: Option<Percentiles>| {
                    p.map_or_else(
                        || ",,".to_owned(),
                        |p| format!("{},{},{}", p.p50, p.p99, p.max),
                    )
                };
                let _ = writeln!(
                    out,
                    "{index},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
                    kind.report_key(),
                    lane.clients,
                    lane.connected,
                    lane.failed,
                    run.interval_ms,
                    run.duration_s,
                    num(lane.requests),
                    rate(lane.requests_per_s),
                    num(lane.messages),
                    rate(lane.messages_per_s),
                    lane.updates,
                    quantiles(lane.request_ms),
                    num(lane.updates_distinct),
                    num(lane.updates_to_every_subscriber),
                    quantiles(lane.spread_ms),
                    lane.wire.csv(),
                    lane.errors,
                    lane.reconnects,
                    run.server.measured,
                );
            }
        }
        out
    }
}
