//! A real browser on the server's own https (issue 20): headless Chromium
//! loads a page served with `--static`, whose `EventSource` and `WebSocket`
//! each get every change the page then writes through REST, with their
//! revisions. DevTools says which HTTP version each request used; the test
//! prints it and holds it: h2 for all by default, the WebSocket by RFC 8441
//! (a `200` to an extended CONNECT, not a `101`), and HTTP/1.1 for all when
//! Chromium runs with `--disable-http2`.
//!
//! Chromium trusts the test's certificate by the SHA-256 of its key
//! (`--ignore-certificate-errors-spki-list`), not by ignoring every
//! certificate error: the name and dates are still checked.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;

use common::chromium::{self, Chromium};
use common::devtools::DevTools;
use common::{DEADLINE, spawn_server_with};
use pollpush_server::{Config, Server};
use rcgen::PublicKeyData;
use serde_json::{Value, json};

/// What the page POSTs, one after the other.
const NAMES: [&str; 3] = ["Vigne", "Tomate", "Basilic"];

#[tokio::test]
async fn chromium_gets_changes_by_eventsource_and_websocket_over_h2() {
    let Some(seen) = push_in_chromium(&[]).await else {
        return;
    };
    assert_eq!(seen.page, "h2");
    assert_eq!(seen.sse, "h2", "EventSource over HTTP/2 (ALPN)");
    assert_eq!(seen.post, "h2");
    assert_eq!(
        seen.ws_status, 200,
        "WebSocket over HTTP/2 answers the extended CONNECT with 200 (RFC 8441); 101 means HTTP/1.1"
    );
    assert!(seen.ws_accept.is_none(), "no Sec-WebSocket-Accept over h2");
    assert!(seen.tls.alpn_h2 >= 1, "{:?}", seen.tls);
}

#[tokio::test]
async fn chromium_without_http2_gets_them_over_http_1_1() {
    let Some(seen) = push_in_chromium(&["--disable-http2"]).await else {
        return;
    };
    assert_eq!(seen.page, "http/1.1");
    assert_eq!(seen.sse, "http/1.1");
    assert_eq!(seen.post, "http/1.1");
    assert_eq!(
        seen.ws_status, 101,
        "WebSocket over HTTP/1.1 switches protocols"
    );
    assert!(
        seen.ws_accept.is_some(),
        "Sec-WebSocket-Accept over HTTP/1.1"
    );
    assert_eq!(seen.tls.alpn_h2, 0, "{:?}", seen.tls);
}

/// What DevTools and the server said about one run.
#[derive(Debug)]
struct Seen {
    /// `response.protocol` of the page, of the EventSource stream and of the POSTs.
    page: String,
    sse: String,
    post: String,
    /// The status of the WebSocket handshake's answer, and its Sec-WebSocket-Accept.
    ws_status: u64,
    ws_accept: Option<String>,
    tls: pollpush_shared::TlsStats,
}

/// Serves the page over TLS, opens it in Chromium started with `flags`,
/// writes [`NAMES`] from the page and waits until EventSource and WebSocket
/// have each seen those changes with their revisions. `None` if skipped.
async fn push_in_chromium(flags: &[&str]) -> Option<Seen> {
    if !chromium::available_or_skip("the browser test") {
        return None;
    }
    let (server, pin, _certs) = serve_page_over_tls().await;
    let chromium = Chromium::launch(&pin, flags).await;
    let mut page = DevTools::open_page(&chromium.devtools_url).await;
    let browser = page.browser_call("Browser.getVersion", json!({})).await;
    page.call("Network.enable", json!({})).await;
    page.call("Page.enable", json!({})).await;
    let url = format!("https://{}/page.html", server.local_addr());
    let navigated = page.call("Page.navigate", json!({ "url": url })).await;
    assert!(
        navigated.get("errorText").is_none(),
        "{url}: {} (Chromium's stderr ends with:\n{})",
        navigated["errorText"],
        chromium.stderr_tail()
    );
    page.event("Page.loadEventFired").await;

    // The page's own promises wait for the condition, with a deadline of
    // their own just inside ours, so a failure says what each transport saw.
    let ms = DEADLINE.as_millis() * 4 / 5;
    let subscribed = page.evaluate(&format!("bothSubscribed({ms})")).await;
    let base = subscribed["sse"]["snapshot"].as_u64().unwrap();
    assert_eq!(subscribed["ws"]["snapshot"], base, "{subscribed}");
    let statuses = page.evaluate(&format!("create({})", json!(NAMES))).await;
    assert_eq!(statuses, json!([201, 201, 201]));
    let saw = page
        .evaluate(&format!("bothSaw({}, {ms})", NAMES.len()))
        .await;
    let expected: Vec<Value> = (1..)
        .zip(NAMES)
        .map(|(i, name)| json!({ "revision": base + i, "name": name }))
        .collect();
    assert_eq!(saw["sse"]["changes"], json!(expected), "EventSource: {saw}");
    assert_eq!(saw["ws"]["changes"], json!(expected), "WebSocket: {saw}");
    assert_eq!(saw["sse"]["errors"], 0, "{saw}");
    assert_eq!(saw["ws"]["errors"], 0, "{saw}");

    let seen = versions(&page, server.stats().tls);
    // Straight to stderr, so `cargo test` shows it for a passing test too.
    let _ = writeln!(
        std::io::stderr(),
        "{} {flags:?}: page {}, POST {}, EventSource {}, WebSocket {} ({} to the handshake); \
         {} TLS handshakes, {} chose h2",
        browser["product"].as_str().unwrap_or("Chromium"),
        seen.page,
        seen.post,
        seen.sse,
        if seen.ws_status == 200 {
            "h2 (RFC 8441)"
        } else {
            "http/1.1"
        },
        seen.ws_status,
        seen.tls.handshakes_full + seen.tls.handshakes_resumed,
        seen.tls.alpn_h2,
    );
    drop(page);
    drop(chromium);
    server.shutdown().await;
    Some(seen)
}

/// A certificate for 127.0.0.1 made now, the server serving it and
/// `tests/browser/` over https on port 0, and the pin Chromium trusts it by.
async fn serve_page_over_tls() -> (Server, String, tempfile::TempDir) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let config = Config {
        tls: Some(pollpush_server::tls::from_pem_files(&cert, &key).unwrap()),
        static_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")),
        ..Config::default()
    };
    let server = spawn_server_with(config).await;
    let pin = chromium::spki_pin(&made.signing_key.subject_public_key_info());
    (server, pin, certs)
}

/// The HTTP versions DevTools reported for the page's requests.
fn versions(page: &DevTools, tls: pollpush_shared::TlsStats) -> Seen {
    let protocol = |path: &str| {
        page.events("Network.responseReceived")
            .find(|e| e["response"]["url"].as_str().unwrap().ends_with(path))
            .unwrap_or_else(|| panic!("no response for {path}"))["response"]["protocol"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ws = page
        .events("Network.webSocketCreated")
        .find(|e| e["url"].as_str().unwrap().ends_with("/ws"))
        .expect("the page opened no WebSocket");
    let handshake = &page
        .events("Network.webSocketHandshakeResponseReceived")
        .find(|e| e["requestId"] == ws["requestId"])
        .expect("the WebSocket handshake got no answer")["response"];
    let accept = handshake["headers"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, value)| value.as_str().unwrap().to_owned());
    Seen {
        page: protocol("/page.html"),
        sse: protocol("/species/events"),
        post: protocol("/species"),
        ws_status: handshake["status"].as_u64().unwrap(),
        ws_accept: accept,
        tls,
    }
}
