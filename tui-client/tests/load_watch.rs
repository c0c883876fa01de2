//! `pollpush load --poll URL --push URL` as a user runs it (the built binary)
//! against services that are not pollpush servers, started by the test on
//! port 0: every subscriber gets every message, and the bytes counted match
//! what the service wrote on its sockets, TLS included.
#![allow(clippy::unwrap_used)]

mod common;
mod watch_fixtures;

use common::assert_refused;
use serde_json::Value;

/// `pollpush load args` without blocking the fixtures' runtime; its stdout.
async fn load(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .arg("load")
        .args(args)
        .output()
        .await
        .expect("the pollpush binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

async fn load_json(args: &[&str]) -> Value {
    let report: Value = serde_json::from_str(&load(args).await).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{report:#}");
    runs[0].clone()
}

fn within_one_percent(counted: &Value, written: u64) {
    let counted = counted.as_u64().unwrap();
    assert!(written > 0, "the service wrote nothing");
    let off = counted.abs_diff(written) as f64 / written as f64;
    assert!(
        off <= 0.01,
        "the clients counted {counted} B, the service wrote {written} B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_and_wss_subscribers_see_every_message_and_every_byte() {
    let cert = watch_fixtures::self_signed();
    let feed = watch_fixtures::websocket(Some(cert.acceptor.clone()), 20).await;
    let api = watch_fixtures::http_json(None).await;
    let poll = format!("http://127.0.0.1:{}/species", api.port);
    let push = format!("wss://localhost:{}/feed", feed.port);
    let ca = cert.ca_file.to_str().unwrap();
    let run = load_json(&[
        "--poll",
        &poll,
        "--push",
        &push,
        "--ca-cert",
        ca,
        "--pollers",
        "5",
        "--subscribers",
        "5",
        "--interval",
        "200ms",
        "--duration",
        "2s",
    ])
    .await;
    assert!(
        run["server"]["measured"]
            .as_str()
            .unwrap()
            .contains("not a pollpush server"),
        "{run:#}"
    );
    let push = &run["push"];
    assert_eq!(
        (&push["connected"], &push["failed"], &push["errors"]),
        (&5.into(), &0.into(), &0.into()),
        "{push:#}"
    );
    assert_eq!(
        push["messages"], 100,
        "5 subscribers × 20 messages: {push:#}"
    );
    assert_eq!(push["updates_distinct"], 20, "{push:#}");
    assert_eq!(push["updates_to_every_subscriber"], 20, "{push:#}");
    assert!(push["spread_ms"]["p99"].as_f64().is_some(), "{push:#}");
    within_one_percent(&push["bytes_in"], feed.written.get());

    let polls = &run["poll-url"];
    assert_eq!(
        (&polls["connected"], &polls["errors"]),
        (&5.into(), &0.into())
    );
    let requests = polls["requests"].as_u64().unwrap();
    assert!(requests >= 5, "{polls:#}");
    // The fixture answers every poll with a new body.
    assert_eq!(polls["updates"], requests, "{polls:#}");
    assert!(
        polls["request_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{polls:#}"
    );
    // A poll in flight when the run ends was written but not all read.
    let counted = polls["bytes_in"].as_u64().unwrap();
    assert!(counted > 0 && counted <= api.written.get(), "{polls:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_feed_is_reported_as_failed_clients_with_the_hint() {
    let cert = watch_fixtures::self_signed();
    let feed = watch_fixtures::websocket(Some(cert.acceptor.clone()), 1).await;
    let push = format!("wss://127.0.0.1:{}/", feed.port);
    let run = load_json(&[
        "--push",
        &push,
        "--subscribers",
        "2",
        "--duration",
        "1s",
        "--timeout",
        "1s",
    ])
    .await;
    let push = &run["push"];
    assert_eq!(
        (&push["connected"], &push["failed"]),
        (&0.into(), &2.into())
    );
    let error = push["last_error"].as_str().unwrap();
    assert!(error.contains("--ca-cert"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_feed_load_prints_csv_rows_per_lane() {
    let feed = watch_fixtures::event_stream(10).await;
    let push = format!("sse+http://127.0.0.1:{}/events", feed.port);
    let csv = load(&[
        "--push",
        &push,
        "--subscribers",
        "3",
        "--duration",
        "1s",
        "--format",
        "csv",
    ])
    .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(
        (cell("lane"), cell("connected"), cell("messages")),
        ("push", "3", "30")
    );
    assert_eq!(cell("updates_to_every_subscriber"), "10");
    within_one_percent(
        &cell("bytes_in").parse::<u64>().unwrap().into(),
        feed.written.get(),
    );
}

#[test]
fn flags_of_a_pollpush_server_are_refused_against_any_service() {
    let push = &["load", "--push", "ws://127.0.0.1:9/"];
    assert_refused(
        &[push as &[&str], &["--sse", "3"]].concat(),
        "--subscribers",
    );
    assert_refused(&[push as &[&str], &["--sweep", "10"]].concat(), "--sweep");
    assert_refused(push, "nothing to load");
    assert_refused(
        &["load", "--push", "ws://127.0.0.1:9/", "--pollers", "2"],
        "--poll URL",
    );
}
