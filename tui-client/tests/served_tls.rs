//! TLS served by pollpush-server itself (issue 20): every lane over HTTPS sees
//! every change, HTTP lanes on h2 by ALPN or on HTTP/1.1, the WebSocket lane
//! fanned out by direct writes encrypted per connection; the server counts
//! its handshakes, full and resumed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Client;
use pollpush_client::event::{HttpVersion, TlsVersion};
use pollpush_client::lane::LaneKind::{self, LongPoll, Poll, Sse, Ws};
use pollpush_client::lane::Lanes;
use pollpush_client::net::HttpChoice;
use pollpush_client::net::tls::{Tls, TlsOptions};
use pollpush_client::target::Target;

/// A server serving TLS with a certificate made for the test, and the file
/// its certificate was written to.
async fn tls_node() -> (
    pollpush_server::Server,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let tls = pollpush_server::tls::self_signed(&cert).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = pollpush_server::Config {
        tls: Some(tls),
        ..pollpush_server::Config::default()
    };
    let server = pollpush_server::Server::start(listener, config)
        .await
        .unwrap();
    (server, dir, cert)
}

fn target(server: &pollpush_server::Server, cert: &std::path::Path, http: HttpChoice) -> Target {
    let url = format!("https://localhost:{}", server.local_addr().port());
    let mut target = Target::remote(&url, None).unwrap();
    let tls = Tls::new(&TlsOptions {
        ca_certs: vec![cert.to_owned()],
        insecure: false,
    })
    .unwrap();
    target.nodes = target.nodes.with_tls(&tls).with_http(http);
    target
}

async fn every_lane_over_served_tls(http: HttpChoice, expected: [(LaneKind, HttpVersion); 4]) {
    let (server, _dir, cert) = tls_node().await;
    let target = target(&server, &cert, http);
    let lanes = Lanes {
        kinds: expected.map(|(kind, _)| kind).to_vec(),
        long_poll_wait: Duration::from_secs(5),
    };
    let mut client = Client::start_lanes(&target, Duration::from_millis(100), &lanes);
    // Written over TLS too, as the `n` key does.
    let writes = target.nodes.poll().clone();
    common::every_lane_sees_every_change(&server, &mut client, &writes, 5).await;
    for (kind, http) in expected {
        let traffic = client.app[kind].traffic();
        assert_eq!(traffic.wire.http, Some(http), "{kind:?}");
        assert_eq!(traffic.wire.tls, Some(TlsVersion::V1_3), "{kind:?}");
    }
    let tls = server.stats().tls;
    assert!(
        tls.handshakes_full >= 4,
        "one handshake per lane at least: {tls:?}"
    );
    assert_eq!(tls.handshakes_failed, 0, "{tls:?}");
    drop(client);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_tls_alpn_picks_h2_and_every_lane_sees_every_change() {
    use HttpVersion::{H1, H2};
    every_lane_over_served_tls(
        HttpChoice::Auto,
        [(Poll, H2), (LongPoll, H2), (Sse, H2), (Ws, H1)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_tls_over_http_1_1_every_lane_sees_every_change() {
    use HttpVersion::H1;
    every_lane_over_served_tls(
        HttpChoice::H1,
        [(Poll, H1), (LongPoll, H1), (Sse, H1), (Ws, H1)],
    )
    .await;
}

/// `--http 2`: the WebSocket lane too, by extended CONNECT (RFC 8441) over TLS,
/// where the server's SETTINGS arrive after the client could have sent it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_tls_and_http_2_every_lane_including_websocket_sees_every_change() {
    use HttpVersion::H2;
    every_lane_over_served_tls(
        HttpChoice::H2,
        [(Poll, H2), (LongPoll, H2), (Sse, H2), (Ws, H2)],
    )
    .await;
}
