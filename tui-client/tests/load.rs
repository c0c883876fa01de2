#![allow(clippy::unwrap_used)]
//! `pollpush load` as a user runs it: the built binary, its stdout, its exit code.

use std::path::Path;
mod common;

use common::{assert_refused, pollpush_ok};

use serde_json::Value;

const PROTOCOL_FIELDS: &[&str] = &[
    "clients",
    "changes_seen",
    "changes_missed",
    "staleness_ms",
    "latency_ms",
    "bytes_in",
    "bytes_out",
    "bytes_per_s",
    "bytes_per_client_per_min",
    "errors",
    "reconnects",
];

fn field<'a>(value: &'a Value, name: &str) -> &'a Value {
    value
        .get(name)
        .unwrap_or_else(|| panic!("no {name:?} in {value:#}"))
}

#[test]
fn a_small_load_reports_every_field_and_push_misses_nothing() {
    let report: Value = serde_json::from_str(&pollpush_ok(&[
        "load",
        "--pollers",
        "20",
        "--subscribers",
        "20",
        "--duration",
        "3s",
        "--interval",
        "500ms",
        "--simulate",
        "5",
    ]))
    .unwrap();
    let runs = field(&report, "runs").as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let server = field(run, "server");
    for name in [
        "measured",
        "changes",
        "cpu_seconds",
        "cpu_percent",
        "rss_idle_bytes",
        "rss_growth_bytes",
    ] {
        field(server, name);
    }
    assert!(
        field(server, "changes").as_u64().unwrap() >= 5,
        "{server:#}"
    );
    for (protocol, extra) in [
        ("rest", &["requests", "requests_per_s", "not_modified"][..]),
        ("ws", &["messages", "messages_per_s"][..]),
    ] {
        let p = field(run, protocol);
        for name in PROTOCOL_FIELDS.iter().chain(extra) {
            field(p, name);
        }
        for q in ["p50", "p90", "p99", "max"] {
            field(field(p, "staleness_ms"), q).as_f64().unwrap();
            field(field(p, "latency_ms"), q).as_f64().unwrap();
        }
        assert_eq!(field(p, "clients"), 20);
        assert_eq!(field(p, "errors"), 0, "{protocol}: {p:#}");
        assert!(field(p, "bytes_in").as_u64().unwrap() > 0, "{protocol}");
    }
    let ws = field(run, "ws");
    assert_eq!(field(ws, "changes_missed"), 0, "push never misses: {ws:#}");
    assert!(field(ws, "changes_seen").as_u64().unwrap() > 0);
    let rest = field(run, "rest");
    assert!(
        field(rest, "requests").as_u64().unwrap() >= 20 * 4,
        "{rest:#}"
    );
}

#[test]
fn long_pollers_sse_and_socketio_subscribers_are_measured_like_the_others() {
    let report: Value = serde_json::from_str(&pollpush_ok(&[
        "load",
        "--longpollers",
        "5",
        "--sse",
        "5",
        "--socketio",
        "5",
        "--long-poll-wait",
        "5s",
        "--duration",
        "2s",
        "--simulate",
        "5",
    ]))
    .unwrap();
    let run = &field(&report, "runs")[0];
    assert_eq!(
        (
            field(run, "longpollers"),
            field(run, "sse_subscribers"),
            field(run, "socketio_subscribers")
        ),
        (&Value::from(5), &Value::from(5), &Value::from(5))
    );
    for (lane, extra) in [
        ("longpoll", "requests"),
        ("sse", "messages"),
        ("socketio", "messages"),
    ] {
        let p = field(run, lane);
        for name in PROTOCOL_FIELDS.iter().chain(&[extra]) {
            field(p, name);
        }
        assert_eq!(field(p, "errors"), 0, "{lane}: {p:#}");
        assert!(
            field(p, "changes_seen").as_u64().unwrap() > 0,
            "{lane}: {p:#}"
        );
    }
    assert_eq!(field(field(run, "sse"), "changes_missed"), 0);
    assert_eq!(field(field(run, "socketio"), "changes_missed"), 0);
    assert!(
        run.get("rest").is_none() && run.get("ws").is_none(),
        "{run:#}"
    );
}

#[test]
fn a_sweep_draws_an_svg_chart_and_prints_csv() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("sweep.svg");
    let csv = pollpush_ok(&[
        "load",
        "--sweep",
        "2,5",
        "--duration",
        "1s",
        "--interval",
        "200ms",
        "--format",
        "csv",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "two counts × two protocols: {csv}");
    assert!(rows.iter().all(|r| r.len() == header.len()), "{csv}");
    assert_valid_svg(&chart);
}

fn assert_valid_svg(path: &Path) {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for text in [
        "REST polling",
        "WebSocket push",
        "server CPU",
        "p99 staleness",
    ] {
        assert!(svg.contains(text), "{text:?} missing from the chart");
    }
    assert!(svg.contains("<polyline"), "the chart has lines");
}

#[test]
fn a_bad_duration_is_refused() {
    assert_refused(
        &["load", "--subscribers", "1", "--duration", "soon"],
        "--duration",
    );
}

#[test]
fn an_unknown_format_is_refused() {
    assert_refused(&["load", "--subscribers", "1", "--format", "xml"], "xml");
}

#[test]
fn an_unreachable_server_is_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped here, so nothing listens on that port.
    let url = format!("http://127.0.0.1:{port}");
    assert_refused(
        &["load", "--subscribers", "1", "--server", &url],
        "cannot reach the server",
    );
}

#[test]
fn a_png_chart_is_refused_before_any_run() {
    assert_refused(
        &["load", "--sweep", "1", "--chart", "sweep.png"],
        "only SVG",
    );
}

#[test]
fn nothing_to_load_is_refused() {
    assert_refused(&["load"], "nothing to load");
}
