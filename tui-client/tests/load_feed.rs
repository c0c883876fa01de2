//! `pollpush load --feed NAME` and `load --gateway URL` as a user runs them
//! (the built binary), against a REST API made here that changes on a timer.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::upstream::Upstream;
use common::{gateway, pollpush_ok};
use serde_json::Value;

/// `pollpush args` run off the runtime, so the servers here keep serving.
async fn load(args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pollpush_ok(&args)
    })
    .await
    .unwrap();
    serde_json::from_str(&out).unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn f64_at(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no {pointer} in {value:#}"))
}

/// `pollpush load --server GATEWAY --feed talk EXTRA…`, the gateway polling
/// every 100 ms an upstream whose items change every 200 ms.
async fn load_feed(extra: &[&str]) -> Value {
    let upstream = Upstream::start("127.0.0.1:0", 5).await.unwrap();
    upstream.change_every(Duration::from_millis(200));
    let server = gateway(&upstream, Duration::from_millis(100)).await;
    let url = format!("http://{}", server.local_addr());
    let mut list = vec!["load", "--server", &url, "--feed", "talk"];
    list.extend_from_slice(extra);
    load(args(&list)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_feed_counts_every_change_and_what_the_upstream_saw() {
    let report = load_feed(&[
        "--pollers",
        "5",
        "--subscribers",
        "5",
        "--sse",
        "5",
        "--duration",
        "2s",
        "--interval",
        "100ms",
    ])
    .await;
    let run = &report["runs"][0];
    for lane in ["rest", "ws", "sse"] {
        assert!(
            f64_at(run, &format!("/{lane}/changes_seen")) >= 5.0,
            "{lane}: {run:#}"
        );
        assert_eq!(run[lane]["errors"], 0, "{lane}");
    }
    // Push misses nothing; the upstream saw the gateway's ~10 polls a second, not 15 clients'.
    assert_eq!(run["ws"]["changes_missed"], 0);
    assert_eq!(run["sse"]["changes_missed"], 0);
    let feed = &run["server"]["feeds"][0];
    assert_eq!(feed["name"], "talk");
    let per_s = f64_at(feed, "/upstream_requests_per_s");
    assert!((5.0..=12.0).contains(&per_s), "{feed:#}");
    assert!(f64_at(feed, "/changes") >= 5.0, "{feed:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_feed_over_workers_adds_up_every_workers_clients() {
    let report = load_feed(&[
        "--workers",
        "2",
        "--subscribers",
        "6",
        "--sse",
        "4",
        "--duration",
        "2s",
    ])
    .await;
    let run = &report["runs"][0];
    assert_eq!(run["workers"], 2, "{run:#}");
    for (lane, clients) in [("ws", 6), ("sse", 4)] {
        assert_eq!(run[lane]["clients"], clients, "{lane}: {run:#}");
        assert_eq!(run[lane]["changes_missed"], 0, "{lane}");
        // Every client of both workers saw the changes: at least 5 each.
        let seen = f64_at(run, &format!("/{lane}/changes_seen"));
        assert!(seen >= 5.0 * f64::from(clients), "{lane}: {run:#}");
    }
    assert_eq!(run["server"]["feeds"][0]["name"], "talk");
}

/// The spawned gateway is the `pollpush-server` built beside `pollpush`.
fn server_built() -> bool {
    let beside =
        std::path::Path::new(env!("CARGO_BIN_EXE_pollpush")).with_file_name("pollpush-server");
    if !beside.is_file() {
        // CI builds the whole workspace: there a missing server is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "no {} in CI",
            beside.display()
        );
        eprintln!(
            "skipped: no {} (cargo build -p pollpush-server)",
            beside.display()
        );
    }
    beside.is_file()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_gateway_shows_one_upstream_poller_instead_of_n_and_both_delays() {
    if !server_built() {
        return;
    }
    let upstream = Upstream::start("127.0.0.1:0", 5).await.unwrap();
    upstream.change_every(Duration::from_millis(250));
    let report = load(args(&[
        "load",
        "--gateway",
        &upstream.url(),
        "--pollers",
        "20",
        "--duration",
        "2s",
        "--interval",
        "250ms",
        "--time-field",
        "/updated_at",
    ]))
    .await;
    // 20 pollers at 4 a second for ~2 s, against the gateway's 4 a second.
    let direct = f64_at(&report, "/direct/upstream_requests_per_s");
    let through = f64_at(&report, "/gateway/upstream_requests_per_s");
    assert!(direct >= 40.0, "{report:#}");
    assert!((2.0..=6.0).contains(&through), "{report:#}");
    assert!(upstream.requests.load(Relaxed) as f64 >= direct * 1.5);
    // Both delays are measured, the gateway's within an interval and a margin.
    assert!(f64_at(&report, "/direct/delay_ms/p50") > 0.0, "{report:#}");
    assert!(
        f64_at(&report, "/gateway/delay_ms/p99") <= 250.0 + 200.0,
        "{report:#}"
    );
    assert!(f64_at(&report, "/gateway/client_bytes") > 0.0);
    // Twenty subscribers on loopback: the fan-out is short beside the poll's wait.
    assert!(
        f64_at(&report, "/gateway/first_to_last_ms/1") < 200.0,
        "{report:#}"
    );
    assert_eq!(report["gateway"]["lane"], "ws");
}
