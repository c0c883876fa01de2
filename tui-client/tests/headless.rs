//! `pollpush run`: the same producers and state as the TUI, recorded without a terminal.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_refused, pollpush_ok};
use pollpush_client::app::settings::PollSettings;
use pollpush_client::headless::report::ProtocolReport;
use pollpush_client::headless::{RecordOptions, record, summarize};
use pollpush_client::lane::LaneKind::{Poll, Ws};
use pollpush_client::lane::Lanes;
use pollpush_client::net::Cadence;
use pollpush_client::target::Target;
use serde_json::Value;

fn options(duration: Duration, interval: Duration, stats: Duration) -> RecordOptions {
    RecordOptions {
        duration,
        lanes: Lanes::default(),
        settings: PollSettings {
            interval,
            ..PollSettings::default()
        },
        cadence: Cadence {
            tick: Duration::from_millis(50),
            stats,
        },
        feed_time: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_every_field_push_misses_nothing_and_slow_polling_does() {
    let target = Target::embedded(10.0, Some(3), false).await.unwrap();
    let opts = options(
        Duration::from_secs(3),
        Duration::from_secs(1),
        Duration::from_millis(500),
    );
    let mut seconds = 0;
    let app = record(&target, &opts, |_, _| {
        seconds += 1;
        Ok(())
    })
    .await
    .unwrap();
    target.shutdown().await;
    assert_eq!(seconds, 2, "rows at 1 s and 2 s; the summary covers 3 s");

    let summary = summarize(&app, &opts, "test");
    let json = serde_json::to_value(&summary).unwrap();
    for protocol in ["rest", "ws"] {
        for field in [
            "changes_server",
            "changes_seen",
            "changes_missed",
            "staleness_ms",
            "requests",
            "messages",
            "not_modified",
            "bytes_in",
            "bytes_out",
            "bytes_per_change",
            "reconnects",
            "errors",
        ] {
            assert!(
                json[protocol].get(field).is_some(),
                "{protocol}.{field} missing"
            );
        }
        for q in ["p50", "p90", "p99", "max"] {
            assert!(
                json[protocol]["staleness_ms"][q].is_number(),
                "{protocol}.staleness_ms.{q}"
            );
        }
    }
    let (ws, rest) = (
        &summary.lanes.get("ws").unwrap(),
        &summary.lanes.get("rest").unwrap(),
    );
    assert_eq!(ws.changes_missed, 0);
    let push = &app[Ws];
    assert_eq!(
        ws.changes_seen,
        push.revision.unwrap() - push.baseline.unwrap(),
        "push saw every revision"
    );
    assert!(
        ws.changes_seen >= 20,
        "10 changes/s for 3 s: {}",
        ws.changes_seen
    );
    assert!(
        rest.changes_missed > 0,
        "a 1 s poll of 10 changes/s skips some: {rest:?}"
    );
    assert!(rest.requests >= 2 && rest.bytes_out > 0 && ws.messages > ws.changes_seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_counters_agree_with_the_servers_own() {
    // A server of our own, read in-process, and no /stats watcher: every REST
    // byte the server counts is the poller's, every WebSocket byte the subscriber's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = pollpush_server::Server::start(
        listener,
        pollpush_server::Config {
            simulate: 20.0,
            seed: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let target = Target::remote(&format!("http://{}", server.local_addr()), None).unwrap();
    let opts = options(
        Duration::from_secs(2),
        Duration::from_millis(200),
        Duration::ZERO,
    );
    let app = record(&target, &opts, |_, _| Ok(())).await.unwrap();
    let stats = server.stats();
    let close = |client: u64, server: u64| {
        let diff = client.abs_diff(server) as f64;
        assert!(
            diff <= server as f64 * 0.01,
            "client {client} vs server {server}"
        );
    };
    let rest = ProtocolReport::of(&app, &app[Poll]);
    let ws = ProtocolReport::of(&app, &app[Ws]);
    close(rest.bytes_out, stats.rest.bytes_in);
    close(rest.bytes_in, stats.rest.bytes_out);
    close(ws.bytes_out, stats.ws.bytes_in);
    close(ws.bytes_in, stats.ws.bytes_out);
    server.shutdown().await;
}

#[test]
fn cli_errors_are_one_clear_line_and_a_failure_status() {
    let cases: [(&[&str], &str); 3] = [
        (&["run", "--duration", "soon"], "--duration"),
        (&["run", "--format", "xml"], "--format"),
        (
            &["run", "--server", "http://127.0.0.1:9", "--duration", "1s"],
            "cannot reach the server",
        ),
    ];
    for (args, needle) in cases {
        assert_refused(args, needle);
    }
}

#[test]
fn csv_and_ndjson_stream_rows_then_the_summary() {
    let text = pollpush_ok(&[
        "run",
        "--duration",
        "2s",
        "--format",
        "csv",
        "--simulate",
        "5",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], pollpush_client::headless::report::CSV_HEADER);
    let columns = lines[0].split(',').count();
    assert!(lines[1..].iter().all(|l| l.split(',').count() == columns));
    let kinds: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0], f[2])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("second", "rest"),
            ("second", "ws"),
            ("summary", "rest"),
            ("summary", "ws")
        ]
    );

    let text = pollpush_ok(&["run", "--duration", "2s", "--format", "ndjson"]);
    let objects: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[2]["kind"], "summary");
    assert!(objects[2]["ws"]["bytes_in"].as_u64().unwrap() > 0);
}

#[test]
fn piped_plain_pollpush_records_instead_of_drawing() {
    // stdout is a pipe here, as in a script: no terminal UI, a JSON summary.
    let out = Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .env("POLLPUSH_SIMULATE", "0")
        .args(["--interval", "100ms"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["duration_s"], 10.0);
}

#[test]
fn a_run_of_all_lanes_has_a_section_for_each() {
    let text = pollpush_ok(&[
        "run",
        "--lanes",
        "all",
        "--long-poll-wait",
        "5s",
        "--duration",
        "2s",
        "--simulate",
        "5",
    ]);
    let summary: Value = serde_json::from_str(&text).unwrap();
    for lane in ["rest", "longpoll", "sse", "ws"] {
        let section = &summary[lane];
        assert_eq!(section["protocol"], lane, "{summary:#}");
        assert!(
            section["bytes_in"].as_u64().unwrap() > 0,
            "{lane}: {section:#}"
        );
    }
    assert_eq!(summary["sse"]["changes_missed"], 0);
    assert_eq!(summary["long_poll_wait_s"], 5);
    let csv = pollpush_ok(&[
        "run",
        "--lanes",
        "sse,longpoll",
        "--duration",
        "1s",
        "--format",
        "csv",
    ]);
    let protocols: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(protocols, ["longpoll", "sse"], "{csv}");
}
