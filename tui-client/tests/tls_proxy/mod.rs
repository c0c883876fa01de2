//! A TLS-terminating proxy for the tests, in front of a plaintext pollpush
//! server: it offers the ALPN protocols it is given and passes the decrypted
//! bytes on, so h2 over TLS reaches the server as h2c with prior knowledge.
//! It counts the bytes on its TLS side, to check the client's own counts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pollpush_client::event::TrafficTotals;
use pollpush_client::net::counting::{CountingStream, Traffic};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The proxy's port, its certificate, and what its TLS side carried.
pub struct TlsProxy {
    pub port: u16,
    pub ca_file: PathBuf,
    seen: Arc<Traffic>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsProxy {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Bytes on the proxy's TLS sockets, from its side (in is what clients sent).
    pub fn seen(&self) -> TrafficTotals {
        self.seen.totals()
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// A proxy to `backend` on a port of its own, offering `alpn` (e.g. `h2`, `http/1.1`).
pub async fn tls_proxy(backend: SocketAddr, alpn: &[&[u8]]) -> TlsProxy {
    pollpush_client::net::tls::install_provider();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let key = rcgen::generate_simple_self_signed(names).expect("a certificate");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, key.cert.pem()).expect("write the certificate");
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .expect("a server configuration");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    let seen = Arc::new(Traffic::default());
    let counter = seen.clone();
    let accepted = Arc::new(AtomicU64::new(0));
    let accepts = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            accepts.fetch_add(1, Ordering::Relaxed);
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let counted = CountingStream::new(tcp, counter);
                let Ok(mut tls) = acceptor.accept(counted).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    TlsProxy {
        port,
        ca_file,
        seen,
        accepted,
        task,
        _dir: dir,
    }
}
