//! `/stats` `transport` (issue 20): every connection's socket bytes split by
//! HTTP version and by TLS, each split summing to the protocols' totals, with
//! the h2 side equal to what an h2c client counted on its own socket.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use http_body_util::BodyExt;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pollpush_shared::counting::{ByteCounter, CountingStream};
use pollpush_shared::{LinkStats, ServerStats};

/// What a client moved on its socket.
#[derive(Debug, Default)]
struct Counted {
    read: AtomicU64,
    written: AtomicU64,
}

impl ByteCounter for Counted {
    fn read(&self, n: u64) {
        self.read.fetch_add(n, Relaxed);
    }

    fn wrote(&self, n: u64) {
        self.written.fetch_add(n, Relaxed);
    }
}

/// The protocols' totals: what each split must sum to.
fn totals(s: &ServerStats) -> (u64, u64) {
    let bytes_in = s.rest.bytes_in
        + s.ws.bytes_in
        + s.socketio.bytes_in
        + s.longpoll.bytes_in
        + s.sse.bytes_in;
    let bytes_out = s.rest.bytes_out
        + s.ws.bytes_out
        + s.socketio.bytes_out
        + s.longpoll.bytes_out
        + s.sse.bytes_out;
    (bytes_in, bytes_out)
}

fn sum(a: &LinkStats, b: &LinkStats) -> LinkStats {
    LinkStats {
        connections: a.connections + b.connections,
        connections_total: a.connections_total + b.connections_total,
        bytes_in: a.bytes_in + b.bytes_in,
        bytes_out: a.bytes_out + b.bytes_out,
    }
}

const POLLS: usize = 5;

/// [`POLLS`] polls of `uri` on one h2 connection over `io`; returns the
/// connection's sender, which keeps it open.
async fn h2_polls<T>(io: T, uri: &str) -> http2::SendRequest<String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, String>(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(connection);
    for _ in 0..POLLS {
        let request = http::Request::get(uri).body(String::new()).unwrap();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_and_http1_polls_split_the_socket_bytes_and_sum_to_the_totals() {
    let server = common::spawn_server().await;
    // h2c polls on one connection the test counts itself.
    let counted = Arc::new(Counted::default());
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let socket = CountingStream::new(tcp, counted.clone());
    let sender = h2_polls(socket, &common::url(&server, "/species/")).await;
    // HTTP/1.1 polls on another (reqwest keeps one connection alive).
    let client = common::http();
    for _ in 0..POLLS {
        let r = client
            .get(common::url(&server, "/species/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    // The h2 side is exactly what the client moved (once its last
    // WINDOW_UPDATEs have arrived).
    common::eventually(
        || {
            let h2 = server.stats().transport.h2;
            h2.bytes_in == counted.written.load(Relaxed)
                && h2.bytes_out == counted.read.load(Relaxed)
        },
        "the server's h2 bytes are the h2c client's",
    )
    .await;
    let s = server.stats();
    let t = &s.transport;
    assert!(t.h1.bytes_in > 0 && t.h1.bytes_out > 0, "{t:?}");
    // reqwest may open a second connection when one is not back in its pool yet.
    assert!(
        t.h1.connections_total >= 1 && t.h1.connections >= 1,
        "{t:?}"
    );
    assert_eq!((t.h2.connections_total, t.h2.connections), (1, 1));
    let (bytes_in, bytes_out) = totals(&s);
    let by_version = sum(&t.h1, &t.h2);
    assert_eq!(
        (by_version.bytes_in, by_version.bytes_out),
        (bytes_in, bytes_out)
    );
    // Cleartext: everything is plaintext.
    assert_eq!(t.plaintext, by_version);
    assert_eq!(t.tls, LinkStats::default());
    // /metrics has the same split.
    let metrics = common::get_text(&common::url(&server, "/metrics")).await;
    let h2_in = metrics
        .lines()
        .find(|l| {
            l.starts_with("pollpush_bytes_in_by_version_total{") && l.contains("version=\"2\"")
        })
        .unwrap_or_else(|| panic!("no h2 bytes in /metrics: {metrics}"));
    assert!(h2_in.ends_with(&format!(" {}", t.h2.bytes_in)), "{h2_in}");
    drop(sender);
    common::eventually(
        || server.stats().transport.h2.connections == 0,
        "the h2c connection is counted closed",
    )
    .await;
    server.shutdown().await;
}

/// A server with a certificate for `localhost` made now, and a client
/// configuration that trusts it and offers `h2` only.
async fn tls_server() -> (pollpush_server::Server, tokio_rustls::TlsConnector) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = common::spawn_server_with(pollpush_server::Config {
        tls: Some(pollpush_server::tls::from_pem_files(&cert, &key).unwrap()),
        ..pollpush_server::Config::default()
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    (server, tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_and_h2_every_byte_is_tls_and_h2_and_the_client_counted_the_same() {
    let (server, connector) = tls_server().await;
    let counted = Arc::new(Counted::default());
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    // Counted under TLS: the handshake and the records, as the server counts them.
    let socket = CountingStream::new(tcp, counted.clone());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, socket).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // Kept open, so the counts are compared with no close in flight.
    let _sender = h2_polls(tls, "https://localhost/species/").await;
    common::eventually(
        || {
            let t = server.stats().transport;
            t.tls.bytes_in == counted.written.load(Relaxed)
                && t.tls.bytes_out == counted.read.load(Relaxed)
        },
        "the server's TLS bytes are the client's",
    )
    .await;
    let s = server.stats();
    let t = &s.transport;
    assert_eq!(t.h2, t.tls, "the only connection is TLS and h2");
    assert_eq!(t.h1.bytes_in + t.h1.bytes_out, 0, "{t:?}");
    assert_eq!(t.plaintext, LinkStats::default());
    assert_eq!((t.tls.bytes_in, t.tls.bytes_out), totals(&s));
    assert_eq!(s.tls.alpn_h2, 1);
    server.shutdown().await;
}
