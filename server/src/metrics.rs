//! `/metrics`: the `/stats` counters in Prometheus text format.
//!
//! The counters live in [`crate::stats::Stats`]; this renders a snapshot of
//! them through prometheus-client so the exposition format is the library's.
//! Each series has a `node` label (the node's id).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use pollpush_shared::{BrokerStats, LinkStats, ServerStats, TransportStats};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Socket bytes and connections by HTTP version (`version="1.1"|"2"`) and by
/// TLS (`security="plaintext"|"tls"`): two families each, so that summing
/// one never counts a byte twice.
fn register_transport(reg: &mut Registry, t: &TransportStats) {
    let splits: [(&str, [(&str, &LinkStats); 2]); 2] = [
        ("version", [("1.1", &t.h1), ("2", &t.h2)]),
        ("security", [("plaintext", &t.plaintext), ("tls", &t.tls)]),
    ];
    for (label, links) in splits {
        let by = |what: &str| format!("{what}_by_{label}");
        let labels = |value: &str| vec![(label.to_owned(), value.to_owned())];
        let bytes_in = Family::<Vec<(String, String)>, Counter>::default();
        let bytes_out = Family::<Vec<(String, String)>, Counter>::default();
        let opened = Family::<Vec<(String, String)>, Counter>::default();
        let open = Family::<Vec<(String, String)>, Gauge>::default();
        for (value, link) in links {
            bytes_in.get_or_create(&labels(value)).inc_by(link.bytes_in);
            bytes_out
                .get_or_create(&labels(value))
                .inc_by(link.bytes_out);
            opened
                .get_or_create(&labels(value))
                .inc_by(link.connections_total);
            open.get_or_create(&labels(value))
                .set(i64::try_from(link.connections).unwrap_or(i64::MAX));
        }
        reg.register(by("bytes_in"), "Bytes received on the sockets", bytes_in);
        reg.register(by("bytes_out"), "Bytes sent on the sockets", bytes_out);
        reg.register(by("connections_opened"), "Connections accepted", opened);
        reg.register(by("connections"), "Open connections", open);
    }
}

/// The exposition text for one stats snapshot.
pub fn render(s: &ServerStats) -> String {
    // Every series carries the node, so a cluster's nodes can be told apart
    // (and summed) by one Prometheus.
    let node = s.node.clone().unwrap_or_default();
    let mut reg = Registry::with_prefix_and_labels(
        "pollpush",
        std::iter::once((Cow::Borrowed("node"), Cow::Owned(node))),
    );
    for (name, help, value) in counters(s) {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        reg.register(name, help, c);
    }
    for (name, help, value) in gauges(s) {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(value);
        reg.register(name, help, g);
    }
    let cpu = Counter::<f64, AtomicU64>::default();
    cpu.inc_by(s.process.cpu_seconds);
    reg.register("process_cpu_seconds", "User plus system CPU seconds", cpu);
    register_statuses(&mut reg, &s.rest.by_status);
    register_transport(&mut reg, &s.transport);
    if let Some(broker) = &s.broker {
        register_broker(&mut reg, broker);
    }
    let mut out = String::new();
    if encode(&mut out, &reg).is_err() {
        out.clear();
    }
    out
}

/// The totals since start: name, help, value.
fn counters(s: &ServerStats) -> [(&'static str, &'static str, u64); 21] {
    [
        (
            "changes_applied",
            "Writes applied since start",
            s.changes_applied,
        ),
        ("rest_requests", "HTTP requests answered", s.rest.requests),
        (
            "rest_bytes_in",
            "Bytes received on REST connections",
            s.rest.bytes_in,
        ),
        (
            "rest_bytes_out",
            "Bytes sent on REST connections",
            s.rest.bytes_out,
        ),
        (
            "ws_connections_opened",
            "WebSocket connections accepted",
            s.ws.connections_total,
        ),
        (
            "ws_messages_in",
            "WebSocket messages received",
            s.ws.messages_in,
        ),
        (
            "ws_messages_out",
            "WebSocket messages sent",
            s.ws.messages_out,
        ),
        (
            "ws_bytes_in",
            "Bytes received on WebSocket connections",
            s.ws.bytes_in,
        ),
        (
            "ws_bytes_out",
            "Bytes sent on WebSocket connections",
            s.ws.bytes_out,
        ),
        (
            "ws_resyncs",
            "Subscribers resynchronized after falling behind",
            s.ws.resyncs,
        ),
        (
            "ws_throttled",
            "Clients throttled for sending too fast",
            s.ws.throttled,
        ),
        (
            "socketio_messages_in",
            "Socket.IO events received",
            s.socketio.messages_in,
        ),
        (
            "socketio_messages_out",
            "Socket.IO events sent",
            s.socketio.messages_out,
        ),
        (
            "socketio_bytes_in",
            "Bytes received on socket.io connections",
            s.socketio.bytes_in,
        ),
        (
            "socketio_bytes_out",
            "Bytes sent on socket.io connections",
            s.socketio.bytes_out,
        ),
        (
            "longpoll_requests",
            "Requests on long-poll connections",
            s.longpoll.requests,
        ),
        (
            "longpoll_bytes_out",
            "Bytes sent on long-poll connections",
            s.longpoll.bytes_out,
        ),
        (
            "sse_messages_out",
            "Server-Sent Events sent",
            s.sse.messages_out,
        ),
        (
            "sse_bytes_out",
            "Bytes sent on SSE streams",
            s.sse.bytes_out,
        ),
        (
            "accept_failures",
            "Failed accepts, mostly out of file descriptors",
            s.process.accept_failures,
        ),
        (
            "shed_at_accept",
            "Connections closed at accept while out of file descriptors",
            s.process.shed_at_accept,
        ),
    ]
}

/// The levels now: name, help, value.
fn gauges(s: &ServerStats) -> [(&'static str, &'static str, f64); 19] {
    let m = &s.memory;
    [
        ("uptime_seconds", "Seconds since start", s.uptime_s),
        (
            "saturated",
            "1 while out of file descriptors: new connections are closed at accept",
            f64::from(u8::from(s.process.saturated)),
        ),
        ("revision", "Current store revision", s.revision as f64),
        (
            "rest_connections",
            "Open REST connections",
            s.rest.connections as f64,
        ),
        (
            "ws_connections",
            "Open WebSocket connections",
            s.ws.connections as f64,
        ),
        (
            "ws_subscribers",
            "Subscribers of the species room",
            s.ws.subscribers as f64,
        ),
        (
            "socketio_sockets",
            "Connected socket.io clients",
            s.socketio.sockets as f64,
        ),
        (
            "longpoll_held",
            "Long-poll requests held now",
            s.longpoll.held as f64,
        ),
        (
            "sse_subscribers",
            "Open SSE streams",
            s.sse.subscribers as f64,
        ),
        (
            "process_resident_memory_bytes",
            "Resident set size",
            s.process.rss_bytes as f64,
        ),
        (
            "heap_allocated_bytes",
            "Bytes in live allocations, as the allocator counts them (0: no such view)",
            m.heap_allocated_bytes.unwrap_or(0) as f64,
        ),
        (
            "heap_resident_bytes",
            "Bytes the allocator keeps resident (0: no such view)",
            m.heap_resident_bytes.unwrap_or(0) as f64,
        ),
        (
            "ring_bytes",
            "Bytes of recent changes kept encoded for resubscribes",
            m.ring_bytes as f64,
        ),
        ("replays", "Replays in flight", m.replays as f64),
        (
            "replay_bytes",
            "Bytes held by replays in flight",
            m.replay_bytes as f64,
        ),
        (
            "history_reads",
            "Store history reads in flight",
            m.history_reads as f64,
        ),
        (
            "backlog_bytes",
            "Bytes queued for push subscribers, not yet taken by their sockets",
            m.backlog_bytes as f64,
        ),
        (
            "queued_changes",
            "Changes waiting in queued subscriptions (SSE, /ws over HTTP/2, socket.io)",
            m.queued_changes as f64,
        ),
        (
            "queues_lagged",
            "Queued subscriptions that fell a feed capacity behind and await a resync",
            m.queues_lagged as f64,
        ),
    ]
}

/// HTTP responses by status, one series each.
fn register_statuses(reg: &mut Registry, counts: &BTreeMap<u16, u64>) {
    let by_status = Family::<Vec<(String, String)>, Counter>::default();
    for (status, n) in counts {
        by_status
            .get_or_create(&vec![("status".to_owned(), status.to_string())])
            .inc_by(*n);
    }
    reg.register("rest_responses", "HTTP responses by status", by_status);
}

/// The broker's link, in a cluster.
fn register_broker(reg: &mut Registry, broker: &BrokerStats) {
    let connected = Gauge::<i64>::default();
    connected.set(i64::from(broker.connected));
    reg.register(
        "broker_connected",
        "1 while subscribed to the broker",
        connected,
    );
    let dropped = Counter::<u64>::default();
    dropped.inc_by(broker.dropped_publishes);
    reg.register(
        "broker_dropped_publishes",
        "Changes and room broadcasts not handed to the broker (Redis away or slow)",
        dropped,
    );
}
