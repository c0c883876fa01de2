//! What a headless run prints: one row per second per lane while it runs
//! (`ndjson`, `csv`), and a summary at the end (`json`, and last in the others).
//! The field names are the documented schema (README, "Headless runs").

use crate::cli::RunFormat;
use std::io::{self, Write};

use pollpush_shared::ClusterTotals;
use serde::Serialize;

use crate::app::App;
use crate::app::pane::PaneState;
use crate::event::{HttpVersion, TlsVersion};
use crate::lane::LaneMap;

/// Staleness over the run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StalenessMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One lane's numbers, so far (per-second rows) or for the whole run (summary).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolReport {
    /// The lane: `rest` (polling), `longpoll`, `sse` or `ws`.
    pub protocol: &'static str,
    /// Revisions the server made while this pane watched.
    pub changes_server: u64,
    pub changes_seen: u64,
    pub changes_missed: u64,
    pub staleness_ms: StalenessMs,
    /// `rest`, `longpoll`: requests answered (200 and 304). Zero for the streams.
    pub requests: u64,
    /// `sse`, `ws`: messages (events, frames) received. Zero for the request lanes.
    pub messages: u64,
    /// `rest`, `longpoll`: 304 answers (a long-poll's wait ran out).
    pub not_modified: u64,
    /// Bytes on the wire, headers and framing included.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// (bytes_in + bytes_out) / changes_seen; null before the first change.
    pub bytes_per_change: Option<u64>,
    pub reconnects: u64,
    pub errors: u64,
    /// The node this lane talks to (`host:port`); for a stream, the last it connected to.
    pub node: Option<String>,
    /// The HTTP of its last connection: `1.1` or `2`; null before one opened.
    pub http_version: Option<&'static str>,
    /// The TLS of its last connection: `1.2` or `1.3`; null in cleartext.
    pub tls_version: Option<&'static str>,
    /// TLS handshakes made: full ones, and resumed ones (cheaper: no
    /// certificate, no key exchange with `psk_ke`).
    pub handshakes_full: u64,
    pub handshakes_resumed: u64,
    /// Reconnections that landed on another node (a stream of a cluster; else 0).
    pub failovers: u64,
    /// With `--id-field` and `--version-field` (watch mode): how much later
    /// than the other lane this one showed the same item versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<ItemLag>,
}

/// A lane's lag behind the other lane, over the item versions both showed,
/// this one later.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ItemLag {
    pub items: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl ItemLag {
    /// The pane's lag, when its updates carry the item fields.
    fn of(pane: &PaneState) -> Option<Self> {
        let w = &pane.watch;
        w.last.as_ref()?.items.as_ref()?;
        Some(Self {
            items: w.matched,
            p50_ms: ms(w.lag.quantile(0.5).min(w.lag.max())),
            p99_ms: ms(w.lag.quantile(0.99).min(w.lag.max())),
            max_ms: ms(w.lag.max()),
        })
    }

    /// Its four CSV cells (empty when there is no lag to report).
    fn csv(lag: Option<&Self>) -> String {
        lag.map_or_else(
            || ",,,".to_owned(),
            |l| format!("{},{},{},{}", l.items, l.p50_ms, l.p99_ms, l.max_ms),
        )
    }
}

/// Whole microseconds, so the JSON prints 12.345 rather than binary noise.
fn ms(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// A per-second row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondRow {
    /// `"second"`, so ndjson consumers can tell rows from the summary.
    pub kind: &'static str,
    pub t_s: f64,
    #[serde(flatten)]
    pub report: ProtocolReport,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `"summary"`.
    pub kind: &'static str,
    pub duration_s: f64,
    pub interval_ms: u64,
    pub etag: bool,
    pub server: String,
    /// How the lanes reached the server: profile, TLS, HTTP, link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<crate::condition::ConditionReport>,
    /// What `Prefer: wait` asked, when the long-poll lane ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_poll_wait_s: Option<u64>,
    /// One section per lane that ran, keyed by its protocol.
    #[serde(flatten)]
    pub lanes: LaneReports,
    /// The cluster's totals from the last `/stats`; absent without a broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterTotals>,
}

/// Every lane's report, in lane order.
pub type LaneReports = LaneMap<ProtocolReport>;

/// The numbers of every lane of `app` as they stand.
pub fn lane_reports(app: &App) -> LaneReports {
    LaneMap(
        app.lanes
            .iter()
            .map(|p| (p.kind, ProtocolReport::of(app, p)))
            .collect(),
    )
}

impl ProtocolReport {
    /// The numbers of one pane of `app` as they stand.
    pub fn of(app: &App, pane: &PaneState) -> Self {
        let traffic = pane.traffic();
        let changes_server = match (app.server_revision, pane.baseline) {
            (Some(now), Some(base)) => now.saturating_sub(base),
            _ => 0,
        };
        Self {
            protocol: pane.kind.report_key(),
            changes_server,
            changes_seen: pane.counters.seen,
            changes_missed: pane.counters.missed,
            staleness_ms: StalenessMs {
                p50: ms(pane.staleness.quantile(0.5)),
                p90: ms(pane.staleness.quantile(0.9)),
                p99: ms(pane.staleness.quantile(0.99)),
                max: ms(pane.staleness.max()),
            },
            requests: pane.counters.requests,
            messages: pane.counters.messages,
            not_modified: pane.counters.not_modified,
            bytes_in: traffic.bytes_in,
            bytes_out: traffic.bytes_out,
            bytes_per_change: pane.bytes_per_change(),
            reconnects: pane.counters.reconnects,
            errors: pane.counters.errors,
            node: pane.node.clone(),
            http_version: traffic.wire.http.map(HttpVersion::number),
            tls_version: traffic.wire.tls.map(TlsVersion::number),
            handshakes_full: traffic.handshakes.full,
            handshakes_resumed: traffic.handshakes.resumed,
            failovers: pane.counters.failovers,
            lag: ItemLag::of(pane),
        }
    }
}

/// The CSV columns, for rows and summary alike.
pub const CSV_HEADER: &str = "kind,t_s,protocol,changes_server,changes_seen,changes_missed,\
staleness_p50_ms,staleness_p90_ms,staleness_p99_ms,staleness_max_ms,requests,messages,\
not_modified,bytes_in,bytes_out,bytes_per_change,reconnects,errors,node,failovers,lag_items,\
lag_p50_ms,lag_p99_ms,lag_max_ms,http_version,tls_version,handshakes_full,handshakes_resumed";

fn csv_line(out: &mut dyn Write, kind: &str, t_s: f64, r: &ProtocolReport) -> io::Result<()> {
    let s = &r.staleness_ms;
    let per_change = r
        .bytes_per_change
        .map(|b| b.to_string())
        .unwrap_or_default();
    writeln!(
        out,
        "{kind},{t_s:.3},{},{},{},{},{:.1},{:.1},{:.1},{:.1},{},{},{},{},{},{per_change},{},{},{},{},{},{},{},{},{}",
        r.protocol,
        r.changes_server,
        r.changes_seen,
        r.changes_missed,
        s.p50,
        s.p90,
        s.p99,
        s.max,
        r.requests,
        r.messages,
        r.not_modified,
        r.bytes_in,
        r.bytes_out,
        r.reconnects,
        r.errors,
        // host:port holds no comma or quote, so it needs no CSV quoting.
        r.node.as_deref().unwrap_or_default(),
        r.failovers,
        ItemLag::csv(r.lag.as_ref()),
        r.http_version.unwrap_or_default(),
        r.tls_version.unwrap_or_default(),
        r.handshakes_full,
        r.handshakes_resumed,
    )
}

/// Writes rows and the summary in one format.
pub struct Writer<'a> {
    out: &'a mut dyn Write,
    format: RunFormat,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut dyn Write, format: RunFormat) -> io::Result<Self> {
        if format == RunFormat::Csv {
            writeln!(out, "{CSV_HEADER}")?;
        }
        Ok(Self { out, format })
    }

    /// One row per lane for the second ending at `t_s` (nothing in `json`).
    pub fn second(&mut self, t_s: f64, rows: &[ProtocolReport]) -> io::Result<()> {
        for report in rows {
            match self.format {
                RunFormat::Json => {}
                RunFormat::Ndjson => {
                    let row = SecondRow {
                        kind: "second",
                        t_s,
                        report: report.clone(),
                    };
                    serde_json::to_writer(&mut *self.out, &row)?;
                    writeln!(self.out)?;
                }
                RunFormat::Csv => csv_line(self.out, "second", t_s, report)?,
            }
        }
        self.out.flush()
    }

    pub fn summary(&mut self, summary: &Summary) -> io::Result<()> {
        match self.format {
            RunFormat::Json => {
                serde_json::to_writer_pretty(&mut *self.out, summary)?;
                writeln!(self.out)?;
            }
            RunFormat::Ndjson => {
                serde_json::to_writer(&mut *self.out, summary)?;
                writeln!(self.out)?;
            }
            RunFormat::Csv => {
                for r in summary.lanes.values() {
                    csv_line(self.out, "summary", summary.duration_s, r)?;
                }
            }
        }
        self.out.flush()
    }
}
