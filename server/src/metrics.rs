//! `/metrics`: the `/stats` counters in Prometheus text format.
//!
//! The counters live in [`crate::stats::Stats`]; this renders a snapshot of
//! them through prometheus-client so the exposition format is the library's.

use std::sync::atomic::AtomicU64;

use pollpush_shared::ServerStats;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn gauge(value: f64) -> Gauge<f64, AtomicU64> {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    g
}

/// The exposition text for one stats snapshot.
pub fn render(s: &ServerStats) -> String {
    let mut reg = Registry::with_prefix("pollpush");
    reg.register("uptime_seconds", "Seconds since start", gauge(s.uptime_s));
    reg.register(
        "revision",
        "Current store revision",
        gauge(s.revision as f64),
    );
    reg.register(
        "changes_applied",
        "Writes applied since start",
        counter(s.changes_applied),
    );
    reg.register(
        "rest_requests",
        "HTTP requests answered",
        counter(s.rest.requests),
    );
    let by_status = Family::<Vec<(String, String)>, Counter>::default();
    for (status, n) in &s.rest.by_status {
        by_status
            .get_or_create(&vec![("status".to_owned(), status.to_string())])
            .inc_by(*n);
    }
    reg.register("rest_responses", "HTTP responses by status", by_status);
    reg.register(
        "rest_bytes_in",
        "Bytes received on REST connections",
        counter(s.rest.bytes_in),
    );
    reg.register(
        "rest_bytes_out",
        "Bytes sent on REST connections",
        counter(s.rest.bytes_out),
    );
    reg.register(
        "rest_connections",
        "Open REST connections",
        gauge(s.rest.connections as f64),
    );
    reg.register(
        "ws_connections",
        "Open WebSocket connections",
        gauge(s.ws.connections as f64),
    );
    reg.register(
        "ws_connections_opened",
        "WebSocket connections accepted",
        counter(s.ws.connections_total),
    );
    reg.register(
        "ws_subscribers",
        "Subscribers of the species room",
        gauge(s.ws.subscribers as f64),
    );
    reg.register(
        "ws_messages_in",
        "WebSocket messages received",
        counter(s.ws.messages_in),
    );
    reg.register(
        "ws_messages_out",
        "WebSocket messages sent",
        counter(s.ws.messages_out),
    );
    reg.register(
        "ws_bytes_in",
        "Bytes received on WebSocket connections",
        counter(s.ws.bytes_in),
    );
    reg.register(
        "ws_bytes_out",
        "Bytes sent on WebSocket connections",
        counter(s.ws.bytes_out),
    );
    reg.register(
        "ws_resyncs",
        "Subscribers resynchronized after falling behind",
        counter(s.ws.resyncs),
    );
    reg.register(
        "ws_throttled",
        "Clients throttled for sending too fast",
        counter(s.ws.throttled),
    );
    reg.register(
        "process_cpu_seconds",
        "User plus system CPU seconds",
        counter_f(s.process.cpu_seconds),
    );
    reg.register(
        "process_resident_memory_bytes",
        "Resident set size",
        gauge(s.process.rss_bytes as f64),
    );
    let mut out = String::new();
    if encode(&mut out, &reg).is_err() {
        out.clear();
    }
    out
}

fn counter_f(value: f64) -> Counter<f64, AtomicU64> {
    let c = Counter::<f64, AtomicU64>::default();
    c.inc_by(value);
    c
}
