//! What one load run measured, per lane, and its JSON and CSV forms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use pollpush_shared::{FeedStats, ServerStats};
use serde::Serialize;

use super::arrivals::{ChangeArrival, WriteToLast};
use super::crew::WorkerFailure;
use super::server::{Cost, NodeSample};
use super::tally::LaneTally;
use crate::app::staleness::Staleness;
use crate::condition::ConditionReport;
use crate::event::{HttpVersion, TlsVersion, TrafficTotals};
use crate::lane::LaneMap;

/// Every run of one `pollpush load` invocation (one, or one per sweep point).
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub runs: Vec<RunReport>,
}

/// One run: its settings, the server's cost, and what each lane's clients saw.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub pollers: usize,
    pub longpollers: usize,
    /// SSE subscribers.
    pub sse_subscribers: usize,
    /// WebSocket subscribers.
    pub subscribers: usize,
    /// socket.io subscribers.
    pub socketio_subscribers: usize,
    /// Processes the clients ran in (`--workers`).
    pub workers: u16,
    /// Workers that did not report, with why: the figures are the others'.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worker_failures: Vec<WorkerFailure>,
    pub interval_ms: u64,
    pub simulate: f64,
    /// How the clients reached the server: profile, TLS, HTTP, link.
    pub conditions: ConditionReport,
    /// The measured window, after every client connected.
    pub duration_s: f64,
    /// How long connecting every client took, before the window.
    pub ramp_s: f64,
    /// What `Prefer: wait` asked, when long-pollers ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_poll_wait_s: Option<u64>,
    pub server: ServerCost,
    /// From each change's commit to the last client of any lane showing it.
    pub write_to_last_ms: WriteToLast,
    /// Every change of the window: its deliveries over all lanes, and when the last arrived.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeArrival>,
    /// One section per lane that had clients: `rest`, `longpoll`, `sse`, `ws`.
    #[serde(flatten)]
    pub lanes: LaneMap<ProtocolReport>,
}

/// The server's own cost over the window (shared by every lane that runs).
#[derive(Debug, Clone, Serialize)]
pub struct ServerCost {
    pub measured: String,
    /// Revisions the server committed during the window.
    pub changes: u64,
    pub cpu_seconds: f64,
    /// CPU seconds per wall second, in percent of one core.
    pub cpu_percent: f64,
    /// RSS before any load client connected.
    pub rss_idle_bytes: u64,
    /// RSS at the end of the window minus `rss_idle_bytes`: the clients' memory.
    pub rss_growth_bytes: i64,
    /// Against several nodes, each one's share (the figures above are their sums).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeCost>,
    /// Each upstream feed (`--feed NAME=URL` on the server) over the window:
    /// what its upstream saw, by the server's `/stats` (the first node's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<FeedCost>,
}

/// One upstream feed of the server over the window.
#[derive(Debug, Clone, Serialize)]
pub struct FeedCost {
    pub name: String,
    pub upstream_requests: u64,
    pub upstream_requests_per_s: f64,
    pub upstream_not_modified: u64,
    /// Body bytes read from the upstream.
    pub upstream_bytes: u64,
    pub changes: u64,
}

impl FeedCost {
    /// The feeds at `end` less what they had at `start`, over `wall` seconds.
    fn between(start: &ServerStats, end: &ServerStats, wall: f64) -> Vec<Self> {
        end.feeds
            .iter()
            .map(|after| {
                let before = start.feeds.iter().find(|f| f.name == after.name);
                let less = |pick: fn(&FeedStats) -> u64| {
                    pick(after).saturating_sub(before.map_or(0, pick))
                };
                let upstream_requests = less(|f| f.upstream_requests);
                Self {
                    name: after.name.clone(),
                    upstream_requests,
                    upstream_requests_per_s: round3(upstream_requests as f64 / wall),
                    upstream_not_modified: less(|f| f.upstream_not_modified),
                    upstream_bytes: less(|f| f.upstream_bytes),
                    changes: less(|f| f.changes),
                }
            })
            .collect()
    }
}

/// One node's cost over the window, and the load clients it served.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCost {
    pub node: String,
    pub cpu_seconds: f64,
    pub cpu_percent: f64,
    pub rss_idle_bytes: u64,
    pub rss_growth_bytes: i64,
    /// WebSocket subscribers on this node at the end of the window.
    pub ws_subscribers: u64,
    /// It did not answer at the end of the window (killed mid-run, say): its
    /// figures are zero and the cluster's sums leave it out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub down: bool,
}

/// What one lane's clients saw over the window.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolReport {
    pub clients: usize,
    /// Revisions clients moved to (a poll that skipped three counts one), summed over clients.
    pub changes_seen: u64,
    /// Revisions clients never showed, summed over clients.
    pub changes_missed: u64,
    /// Sampled every 100 ms on every client: the age of the oldest change it does not show.
    pub staleness_ms: Percentiles,
    /// Server commit to the client showing it, for every revision a client caught up with.
    pub latency_ms: Percentiles,
    /// From each change's commit to the last of this lane's clients showing it.
    pub write_to_last_ms: WriteToLast,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_modified: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_per_s: Option<f64>,
    #[serde(flatten)]
    pub wire: Wire,
    pub errors: u64,
    /// Errors by cause: `EMFILE`, `EADDRNOTAVAIL`, `ECONNREFUSED`, `other`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_causes: BTreeMap<String, u64>,
    pub reconnects: u64,
}

/// What a lane's clients moved on their sockets, all clients together:
/// headers, framing and TLS included; how they spoke, and their TLS handshakes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Wire {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub bytes_per_s: f64,
    pub bytes_per_client_per_min: f64,
    /// `1.1` or `2`, as the last connection spoke; null when none opened.
    pub http_version: Option<&'static str>,
    /// `1.2` or `1.3`; null in cleartext.
    pub tls_version: Option<&'static str>,
    pub handshakes_full: u64,
    pub handshakes_resumed: u64,
}

impl Wire {
    /// `traffic` of `clients` over `seconds`.
    pub fn new(traffic: TrafficTotals, seconds: f64, clients: usize) -> Self {
        let bytes_per_s = traffic.total() as f64 / seconds.max(f64::EPSILON);
        Self {
            bytes_in: traffic.bytes_in,
            bytes_out: traffic.bytes_out,
            bytes_per_s: round3(bytes_per_s),
            bytes_per_client_per_min: round3(bytes_per_s * 60.0 / clients.max(1) as f64),
            http_version: traffic.wire.http.map(HttpVersion::number),
            tls_version: traffic.wire.tls.map(TlsVersion::number),
            handshakes_full: traffic.handshakes.full,
            handshakes_resumed: traffic.handshakes.resumed,
        }
    }

    /// Its eight CSV cells, in the order of the field names.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{}",
            self.bytes_in,
            self.bytes_out,
            self.bytes_per_s,
            self.bytes_per_client_per_min,
            self.http_version.unwrap_or_default(),
            self.tls_version.unwrap_or_default(),
            self.handshakes_full,
            self.handshakes_resumed,
        )
    }
}

/// A duration distribution in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl From<&Staleness> for Percentiles {
    fn from(s: &Staleness) -> Self {
        // A percentile is the top of its HDR bucket: never show it above the exact max.
        let max = s.max();
        let ms = |d: Duration| (d.min(max).as_secs_f64() * 1e6).round() / 1e3;
        Self {
            p50: ms(s.quantile(0.5)),
            p90: ms(s.quantile(0.9)),
            p99: ms(s.quantile(0.99)),
            max: ms(max),
        }
    }
}

impl ServerCost {
    pub fn between(measured: &str, idle: &Cost, start: &Cost, end: &Cost) -> Self {
        let wall = (end.at - start.at).as_secs_f64().max(f64::EPSILON);
        let nodes: Vec<NodeCost> = idle
            .nodes
            .iter()
            .zip(&start.nodes)
            .zip(&end.nodes)
            .map(|((idle, start), end)| NodeCost::between(idle, start, end, wall))
            .collect();
        // Over several nodes, the sum of the nodes that answered at both ends.
        let cpu_seconds = if nodes.is_empty() {
            (end.cpu_seconds - start.cpu_seconds).max(0.0)
        } else {
            nodes.iter().map(|n| n.cpu_seconds).sum()
        };
        Self {
            measured: measured.to_owned(),
            changes: end.stats.revision.saturating_sub(start.stats.revision),
            cpu_seconds: round3(cpu_seconds),
            cpu_percent: round3(cpu_seconds / wall * 100.0),
            rss_idle_bytes: idle.rss_bytes,
            rss_growth_bytes: if nodes.is_empty() {
                end.rss_bytes as i64 - idle.rss_bytes as i64
            } else {
                nodes.iter().map(|n| n.rss_growth_bytes).sum()
            },
            nodes,
            feeds: FeedCost::between(&start.stats, &end.stats, wall),
        }
    }
}

impl NodeCost {
    fn between(idle: &NodeSample, start: &NodeSample, end: &NodeSample, wall: f64) -> Self {
        let down = start.down || end.down;
        let cpu_seconds = if down {
            0.0
        } else {
            (end.cpu_seconds - start.cpu_seconds).max(0.0)
        };
        Self {
            node: end.node.clone(),
            cpu_seconds: round3(cpu_seconds),
            cpu_percent: round3(cpu_seconds / wall * 100.0),
            rss_idle_bytes: idle.rss_bytes,
            rss_growth_bytes: if down {
                0
            } else {
                end.rss_bytes as i64 - idle.rss_bytes as i64
            },
            ws_subscribers: end.ws_subscribers,
            down,
        }
    }
}

impl ProtocolReport {
    /// A lane's report from its tally over a window of `seconds`.
    /// `polling` picks requests or messages.
    pub fn new(tally: &LaneTally, seconds: f64, polling: bool) -> Self {
        let seconds = seconds.max(f64::EPSILON);
        let exchanges = if polling {
            tally.requests
        } else {
            tally.messages
        };
        let per_s = Some(round3(exchanges as f64 / seconds));
        Self {
            clients: tally.clients,
            changes_seen: tally.seen,
            changes_missed: tally.missed,
            staleness_ms: Percentiles::from(&tally.staleness),
            latency_ms: Percentiles::from(&tally.latency),
            write_to_last_ms: tally.arrivals.summary(),
            requests: polling.then_some(exchanges),
            requests_per_s: per_s.filter(|_| polling),
            not_modified: polling.then_some(tally.not_modified),
            messages: (!polling).then_some(exchanges),
            messages_per_s: per_s.filter(|_| !polling),
            wire: Wire::new(tally.traffic, seconds, tally.clients),
            errors: tally.errors,
            error_causes: tally.error_causes.clone(),
            reconnects: tally.reconnects,
        }
    }
}

pub(super) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// The CSV columns: one row per run and lane.
const CSV_HEADER: &str = "run,protocol,clients,interval_ms,simulate,duration_s,changes_server,\
changes_seen,changes_missed,staleness_p50_ms,staleness_p90_ms,staleness_p99_ms,staleness_max_ms,\
latency_p50_ms,latency_p90_ms,latency_p99_ms,latency_max_ms,requests,requests_per_s,not_modified,\
messages,messages_per_s,bytes_in,bytes_out,bytes_per_s,bytes_per_client_per_min,http_version,\
tls_version,handshakes_full,handshakes_resumed,errors,reconnects,\
server_cpu_seconds,server_cpu_percent,server_rss_growth_bytes,condition,profile,tls,http,link";

impl LoadReport {
    pub fn to_csv(&self) -> String {
        let mut out = format!("{CSV_HEADER}\n");
        for (index, run) in self.runs.iter().enumerate() {
            for (kind, p) in &run.lanes.0 {
                let name = kind.report_key();
                let opt = |v: Option<String>| v.unwrap_or_default();
                let s = &p.staleness_ms;
                let l = &p.latency_ms;
                let c = &run.conditions;
                let _ = writeln!(
                    out,
                    "{index},{name},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    p.clients,
                    run.interval_ms,
                    run.simulate,
                    run.duration_s,
                    run.server.changes,
                    p.changes_seen,
                    p.changes_missed,
                    s.p50,
                    s.p90,
                    s.p99,
                    s.max,
                    l.p50,
                    l.p90,
                    l.p99,
                    l.max,
                    opt(p.requests.map(|v| v.to_string())),
                    opt(p.requests_per_s.map(|v| v.to_string())),
                    opt(p.not_modified.map(|v| v.to_string())),
                    opt(p.messages.map(|v| v.to_string())),
                    opt(p.messages_per_s.map(|v| v.to_string())),
                    p.wire.csv(),
                    p.errors,
                    p.reconnects,
                    run.server.cpu_seconds,
                    run.server.cpu_percent,
                    run.server.rss_growth_bytes,
                    c.name,
                    c.profile,
                    c.tls,
                    c.http,
                    c.link.as_deref().unwrap_or_default(),
                );
            }
        }
        out
    }
}
