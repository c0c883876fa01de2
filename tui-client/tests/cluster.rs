//! Several nodes named by `--server`: two in-process servers on port 0 stand
//! in for a cluster's nodes. They do not share a store, so after a failover the
//! push lane gets the other node's replay or snapshot; what is checked is what
//! a user sees: which node each lane is on, the failover, and updates after it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Client, assert_refused, node};
use pollpush_client::headless::report::ProtocolReport;
use pollpush_client::lane::LaneKind::{Poll, Ws};
use pollpush_client::target::Target;
use pollpush_server::Server;
use serde_json::Value;

fn url(server: &Server) -> String {
    format!("http://{}", server.local_addr())
}

/// A loopback URL nothing listens on.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_subscribes_to_the_second_node_and_fails_over_to_the_first() {
    let (a, b) = (node(10.0, 1).await, node(10.0, 2).await);
    let (a_label, b_label) = (a.local_addr().to_string(), b.local_addr().to_string());
    let target = Target::remote(&format!("{},{}", url(&a), url(&b)), None).unwrap();
    let mut client = Client::start(&target, Duration::from_millis(200));

    client
        .until("push live on B, poll answered by A", WITHIN, |app| {
            app[Ws].counters.seen >= 3 && app[Poll].counters.requests >= 1
        })
        .await;
    assert_eq!(client.app[Ws].node.as_deref(), Some(b_label.as_str()));
    assert_eq!(client.app[Poll].node.as_deref(), Some(a_label.as_str()));
    assert_eq!(b.stats().ws.connections, 1, "the subscriber is on B");
    assert_eq!(a.stats().ws.connections, 0, "A only answers polls");

    b.shutdown().await;
    client.fails_over_to(Ws, &a_label, WITHIN).await;
    assert_eq!(a.stats().ws.connections, 1, "the subscriber moved to A");

    let ws = ProtocolReport::of(&client.app, &client.app[Ws]);
    let rest = ProtocolReport::of(&client.app, &client.app[Poll]);
    assert_eq!(
        (ws.node.as_deref(), ws.failovers),
        (Some(a_label.as_str()), 1)
    );
    assert_eq!(
        (rest.node.as_deref(), rest.failovers),
        (Some(a_label.as_str()), 0)
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_come_from_the_first_node_that_answers() {
    let a = node(0.0, 1).await;
    let target = Target::remote(&format!("{},{}", dead_url(), url(&a)), None).unwrap();
    let mut client = Client::start(&target, Duration::from_millis(200));
    client
        .until("/stats from the live node", WITHIN, |app| {
            app.server.stats.is_some()
        })
        .await;
    let label = a.local_addr().to_string();
    assert_eq!(client.app.server.node.as_deref(), Some(label.as_str()));
    assert_eq!(client.app.server.error, None);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_spreads_pollers_and_subscribers_round_robin() {
    let (a, b) = (node(5.0, 1).await, node(5.0, 2).await);
    let servers = format!("{},{}", url(&a), url(&b));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .args(["load", "--server", &servers, "--pollers", "4"])
        .args(["--subscribers", "6", "--duration", "1s"])
        .args(["--interval", "200ms"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = &report["runs"][0]["server"];
    assert!(
        server["measured"].as_str().unwrap().contains("summed"),
        "{server:#}"
    );
    // Each node's own /stats, read at the end of the window: half the
    // subscribers each, and the uncounted observer on the first node.
    let shares: Vec<u64> = server["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ws_subscribers"].as_u64().unwrap())
        .collect();
    assert_eq!(shares, [3 + 1, 3], "{server:#}");
    // The servers agree: every WebSocket they ever accepted, and pollers on both.
    assert_eq!(a.stats().ws.connections_total, 4);
    assert_eq!(b.stats().ws.connections_total, 3);
    assert!(a.stats().rest.requests > 2 && b.stats().rest.requests > 2);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lost_mid_run_is_reported_down_and_its_subscribers_move_on() {
    let (a, b) = (node(5.0, 1).await, node(5.0, 2).await);
    let servers = format!("{},{}", url(&a), url(&b));
    let load = tokio::process::Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .args(["load", "--server", &servers, "--subscribers", "6"])
        .args(["--socketio", "4", "--duration", "6s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let held = |s: &Server| s.stats().ws.connections + s.stats().socketio.connections;
    // B holds its half of both lanes, then goes; A takes them all.
    wait_until("B holds its 5 subscribers", || held(&b) >= 5).await;
    b.shutdown().await;
    wait_until("A holds all 10 and the observer", || held(&a) >= 11).await;
    let out = load.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the run survives the lost node: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &report["runs"][0];
    let down: Vec<bool> = run["server"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["down"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(down, [false, true], "{:#}", run["server"]);
    assert_eq!(
        (
            run["ws"]["clients"].as_u64(),
            run["socketio"]["clients"].as_u64()
        ),
        (Some(6), Some(4))
    );
    a.shutdown().await;
}

/// Polls `done` until it holds, failing after [`WITHIN`].
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_bad_node_in_the_list_is_refused_with_one_line() {
    let list = "http://127.0.0.1:9,ftp://127.0.0.1:10";
    assert_refused(&["run", "--server", list], "\"ftp://127.0.0.1:10\"");
    assert_refused(&["load", "--subscribers", "1", "--server", list], "ftp://");
    assert_refused(&["run", "--server", "http://127.0.0.1:9,"], "empty entry");
}
