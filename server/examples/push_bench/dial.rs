//! How a bench client reaches a server: TCP, or TLS over it when the server
//! was started with `--tls-self-signed` (its certificate is trusted, nothing
//! else). Every subscriber and the writer dial the same way, so a TLS run
//! differs from a plaintext one by the encryption alone.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Any client connection: a bare socket or TLS over one.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type Stream = Box<dyn Io>;

/// Where and how to connect.
#[derive(Clone)]
pub struct Dial {
    /// `host:port`.
    pub addr: String,
    /// The client side of TLS, trusting only the server's own certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dial {
    /// One connection, with Nagle off as the clients of every lane have it.
    pub async fn connect(&self) -> anyhow::Result<Stream> {
        let tcp = TcpStream::connect(&self.addr).await.context("connect")?;
        tcp.set_nodelay(true).context("TCP_NODELAY")?;
        let Some(config) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        // The self-signed certificate names 127.0.0.1 as well as localhost.
        let name = ServerName::try_from("127.0.0.1").context("server name")?;
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        Ok(Box::new(tls))
    }

    /// `ws://` or `wss://` URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{path}", self.addr)
    }
}

/// A client configuration that trusts the certificate(s) in `pem` and speaks
/// HTTP/1.1 (ALPN), as the bench's raw clients do.
pub fn trusting(pem: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    // ring, as everywhere in the workspace; a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pem)
        .with_context(|| format!("cannot read {}", pem.display()))?
    {
        roots
            .add(cert.with_context(|| format!("bad PEM in {}", pem.display()))?)
            .context("certificate not accepted as a root")?;
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A kept-alive HTTP/1.1 client over [`Dial`]: the writes and `/stats` of a
/// run, plaintext or TLS alike, so both are timed through the same code.
pub struct Client {
    dial: Dial,
    sender: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl Client {
    pub fn new(dial: Dial) -> Self {
        Self {
            dial,
            sender: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends `method path` with `headers` and a JSON `body` (empty when
    /// `None`); returns the status and the whole answer. Reconnects once if
    /// the kept connection is gone.
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(http::StatusCode, Bytes)> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()?
            .unwrap_or_default();
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.dial.addr)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let mut kept = self.sender.lock().await;
        let sender = match kept.as_mut() {
            Some(sender) if !sender.is_closed() => sender,
            _ => {
                let io = TokioIo::new(self.dial.connect().await?);
                let (sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .context("HTTP handshake")?;
                tokio::spawn(connection);
                kept.insert(sender)
            }
        };
        sender.ready().await.context("connection not ready")?;
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
            .await
            .context("no answer within 10 s")?
            .context("request")?;
        let status = response.status();
        let body = response.into_body().collect().await.context("answer")?;
        Ok((status, body.to_bytes()))
    }
}
