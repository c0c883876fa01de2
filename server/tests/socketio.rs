//! Socket.IO on the same port, driven by the real JavaScript clients (2.2.0, as the
//! talk's page uses, and 4.x), and the `--static` folder the talk's page is served from.
//!
//! The clients are installed with npm into the target folder on first use
//! (`server/tests/socketio/package.json`). Without node and npm the client test
//! says it was skipped and passes, so `cargo test` works on a machine with only
//! Rust; `.ci/run` sets `POLLPUSH_REQUIRE_NODE=1`, which turns the skip into a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{get, http, spawn_server_with};
use pollpush_server::Config;

/// The pinned clients' folder, or `None` after one line saying why they are skipped.
fn clients_or_skip() -> Option<PathBuf> {
    common::node::packages_or_skip(
        "socketio",
        "node_modules/socket.io-client-v2/package.json",
        "socket.io JavaScript client tests",
    )
}

fn run_client(dir: &Path, module: &str, base: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio/clients.js");
    let out = Command::new("node")
        .arg(&script)
        .arg(dir.join("node_modules").join(module))
        .arg(base)
        .output()
        .expect("node is needed for the socket.io client tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{module}: {stdout}{stderr}"
    );
}

// One test runs both clients so npm installs once, without racing a sibling test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_clients_2_and_4_get_species_info_changes_rooms_and_polling() {
    let Some(dir) = tokio::task::spawn_blocking(clients_or_skip).await.unwrap() else {
        return;
    };
    let server = spawn_server_with(Config::default()).await;
    let base = format!("http://{}", server.local_addr());
    for module in ["socket.io-client-v2", "socket.io-client"] {
        let (dir, base) = (dir.clone(), base.clone());
        tokio::task::spawn_blocking(move || run_client(&dir, module, &base))
            .await
            .unwrap();
    }
    let stats = server.stats();
    assert!(stats.socketio.messages_in >= 2 * 7, "{:?}", stats.socketio);
    assert!(stats.socketio.bytes_in > 0 && stats.socketio.bytes_out > stats.socketio.bytes_in);
    assert_eq!(
        stats.ws.connections_total, 0,
        "socket.io traffic is not counted as /ws"
    );
}

#[tokio::test]
async fn static_folder_serves_pages_safely() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.html"), "<p>talk</p>").unwrap();
    std::fs::write(dir.path().join(".secret"), "no").unwrap();
    let server = spawn_server_with(Config {
        static_dir: Some(dir.path().to_owned()),
        ..Config::default()
    })
    .await;
    let r = get(&server, "/page.html").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.text().await.unwrap(), "<p>talk</p>");
    for path in [
        "/.secret",
        "/%2esecret",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/missing.html",
    ] {
        let r = get(&server, path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = get(&server, "/species").await;
    assert_eq!(
        r.status(),
        200,
        "the API still answers beside the static folder"
    );
}

#[tokio::test]
async fn bad_socketio_requests_get_4xx_and_the_server_stays_healthy() {
    let server = spawn_server_with(Config::default()).await;
    for query in [
        "EIO=4&transport=polling&sid=bogus",
        "EIO=9&transport=polling",
        "EIO=4&transport=carrier",
    ] {
        let r = get(&server, &format!("/socket.io/?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
    }
    // A real handshake, then garbage, an unknown namespace and an oversize payload.
    let poll_url = common::socketio_session(&server).await;
    let post = |body: String| {
        http()
            .post(&poll_url)
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    assert_eq!(post("40/nope,".into()).await.unwrap().status(), 200);
    let answer = http()
        .get(&poll_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.split('\u{1e}').any(|p| p.starts_with("44/nope,")),
        "unknown namespace gets connect_error: {answer}"
    );
    assert!(
        post("x".repeat(200 * 1024))
            .await
            .unwrap()
            .status()
            .is_client_error()
    );
    let r = get(&server, "/healthz").await;
    assert_eq!(r.status(), 200);
}
