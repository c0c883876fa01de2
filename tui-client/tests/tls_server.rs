//! `--server https://…`: a pollpush server behind a TLS-terminating proxy (as
//! deployments run it; the server itself speaks plain HTTP), every lane over
//! TLS with the certificate trusted through `--ca-cert`, and refused without.
#![allow(clippy::unwrap_used)]

mod common;
mod watch_fixtures;

use std::net::SocketAddr;
use std::time::Duration;

use pollpush_client::net::{Endpoints, control};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Accepts TLS on a port of its own and forwards the plain bytes to `backend`.
async fn tls_proxy(
    acceptor: TlsAcceptor,
    backend: SocketAddr,
) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust us ends its handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, task)
}

/// A pollpush server on port 0 behind a TLS proxy with a certificate made here.
struct BehindTls {
    server: pollpush_server::Server,
    cert: watch_fixtures::SelfSigned,
    url: String,
    proxy: tokio::task::JoinHandle<()>,
}

async fn behind_tls() -> BehindTls {
    let server = common::node(0.0, 1).await;
    let cert = watch_fixtures::self_signed();
    let (port, proxy) = tls_proxy(cert.acceptor.clone(), server.local_addr()).await;
    BehindTls {
        server,
        cert,
        url: format!("https://127.0.0.1:{port}"),
        proxy,
    }
}

impl BehindTls {
    async fn stop(self) {
        self.proxy.abort();
        self.server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lane_of_a_pollpush_server_behind_tls_sees_the_changes() {
    let target = behind_tls().await;
    let url = target.url.clone();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .args([
            "run",
            "--server",
            &url,
            "--lanes",
            "all",
            "--interval",
            "200ms",
        ])
        .args([
            "--duration",
            "3s",
            "--ca-cert",
            target.cert.ca_file.to_str().unwrap(),
        ])
        .output();
    tokio::pin!(run);
    // Changes made on the server itself, until the run ends.
    let direct = Endpoints::local(target.server.local_addr());
    let writer = control::client();
    let mut every = tokio::time::interval(Duration::from_millis(150));
    let out = loop {
        tokio::select! {
            out = &mut run => break out.unwrap(),
            _ = every.tick() => {
                control::write_now(&writer, &direct).await.unwrap();
            }
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for lane in ["rest", "longpoll", "sse", "ws"] {
        let lane_report = &report[lane];
        assert_eq!(lane_report["errors"], 0, "{lane}: {lane_report:#}");
        assert!(
            lane_report["changes_seen"].as_u64().unwrap() > 0,
            "{lane}: {lane_report:#}"
        );
        assert!(lane_report["bytes_in"].as_u64().unwrap() > 0, "{lane}");
    }
    assert_eq!(report["ws"]["changes_missed"], 0, "{:#}", report["ws"]);
    target.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ca_cert_the_run_fails_with_one_line_naming_it() {
    let target = behind_tls().await;
    let url = target.url.clone();
    tokio::task::spawn_blocking(move || {
        common::assert_refused(&["run", "--server", &url, "--duration", "1s"], "--ca-cert");
        let out = common::pollpush(&["run", "--server", &url, "--duration", "1s"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    })
    .await
    .unwrap();
    target.stop().await;
}
