//! `pollpush run --id-field … --version-field …`: how far the poll lane lags
//! behind the push lane per item, in the run's report, against a service
//! made here whose list and feed show the same versioned item.
#![allow(clippy::unwrap_used)]

mod watch_fixtures;

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use watch_fixtures::{Fixture, serve};

/// `GET` answers `[{"id":1,"v":N}]` with the current version.
async fn list(version: watch::Receiver<u64>) -> Fixture {
    watch_fixtures::http_answering(None, move |_| {
        format!(r#"[{{"id":1,"v":{}}}]"#, *version.borrow())
    })
    .await
}

/// A WebSocket that sends `{"id":1,"v":N}` on every new version.
async fn feed(version: watch::Receiver<u64>) -> Fixture {
    serve(None, move |io, _| {
        let mut version = version.clone();
        async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(io).await else {
                return;
            };
            while version.changed().await.is_ok() {
                let text = format!(r#"{{"id":1,"v":{}}}"#, *version.borrow_and_update());
                if ws.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_reports_the_poll_lanes_lag_behind_push_per_item() {
    let (bump, version) = watch::channel(0_u64);
    let (api, push) = (list(version.clone()).await, feed(version).await);
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .arg("run")
        .args(["--poll", &format!("http://127.0.0.1:{}/items", api.port)])
        .args(["--push", &format!("ws://127.0.0.1:{}/", push.port)])
        .args(["--id-field", "/id", "--version-field", "/v"])
        .args(["--interval", "200ms", "--duration", "3s"])
        .output();
    tokio::pin!(run);
    let mut every = tokio::time::interval(Duration::from_millis(250));
    let out = loop {
        tokio::select! {
            out = &mut run => break out.unwrap(),
            _ = every.tick() => bump.send_modify(|v| *v += 1),
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lag = &report["poll-url"]["lag"];
    assert!(lag["items"].as_u64().unwrap() >= 1, "{report:#}");
    let (p50, p99, max) = (
        lag["p50_ms"].as_f64().unwrap(),
        lag["p99_ms"].as_f64().unwrap(),
        lag["max_ms"].as_f64().unwrap(),
    );
    assert!(p50 <= p99 && p99 <= max && max > 0.0, "{lag:#}");
    assert!(report["push"]["lag"]["items"].is_u64(), "{report:#}");
}
