//! One conditional GET of an upstream, read a chunk at a time and refused as
//! soon as it is too large: an upstream that grows without bound costs the
//! gateway `max_bytes`, never its whole body.

use std::sync::Arc;
use std::time::Duration;

use http::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::spec::GatewayConfig;

/// Why a poll brought nothing usable. The feed keeps its last good items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the upstream: {0}")]
    Unreachable(String),
    #[error("the upstream answered {0}")]
    Status(StatusCode),
    #[error("the body is over {0} bytes (--feed-max-bytes)")]
    TooLarge(usize),
    #[error("the list has {count} items, over {limit} (--feed-max-items)")]
    TooManyItems { count: usize, limit: usize },
    #[error("the body is not JSON: {0}")]
    InvalidJson(String),
    /// The poll's changes could not be stored, so none were made.
    #[error("storing its changes failed: {0}")]
    Store(String),
}

/// What the upstream said about its last representation, sent back on the
/// next request so an unchanged resource costs a `304` and no body.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            etag: headers.get(ETAG).cloned(),
            last_modified: headers.get(LAST_MODIFIED).cloned(),
        }
    }
}

/// A poll's answer.
#[derive(Debug)]
pub enum Fetched {
    /// `304`: what the feed holds is current.
    NotModified,
    /// A new body, and the validators to send next time once it is accepted.
    Body(Vec<u8>, Validators),
}

/// The HTTP client every feed shares (one connection pool, one TLS setup).
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
}

/// The client could not be built (a bad `--feed-ca-cert`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(String);

impl Upstream {
    pub fn new(config: &GatewayConfig) -> Result<Self, ClientError> {
        let headers: HeaderMap = config.headers.iter().cloned().collect();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls(config.ca_cert.as_deref())?)
            .default_headers(headers)
            .user_agent(crate::server_name())
            .redirect(reqwest::redirect::Policy::limited(10))
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self {
            client,
            timeout: config.timeout,
            max_bytes: config.max_bytes,
        })
    }

    /// GETs `url` with `known`'s validators; the whole exchange, body
    /// included, must end within the timeout.
    pub async fn fetch(
        &self,
        url: &reqwest::Url,
        known: &Validators,
        bytes_read: &(dyn Fn(usize) + Sync),
    ) -> Result<Fetched, UpstreamError> {
        tokio::time::timeout(self.timeout, self.exchange(url, known, bytes_read))
            .await
            .unwrap_or(Err(UpstreamError::Timeout(self.timeout)))
    }

    async fn exchange(
        &self,
        url: &reqwest::Url,
        known: &Validators,
        bytes_read: &(dyn Fn(usize) + Sync),
    ) -> Result<Fetched, UpstreamError> {
        let mut request = self.client.get(url.clone());
        // The date only without an ETag: a server ignores it beside If-None-Match
        // (RFC 9110 13.1.3), and it has one-second resolution where an ETag is exact.
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag);
        } else if let Some(date) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, date);
        }
        let mut response = request.send().await.map_err(unreachable)?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(Fetched::NotModified),
            s if s.is_success() => {}
            s => return Err(UpstreamError::Status(s)),
        }
        // Refused before reading when the upstream says how much it will send.
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(UpstreamError::TooLarge(self.max_bytes));
        }
        let validators = Validators::from_headers(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            bytes_read(chunk.len());
            if body.len() + chunk.len() > self.max_bytes {
                return Err(UpstreamError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(body, validators))
    }
}

fn unreachable(e: reqwest::Error) -> UpstreamError {
    // The cause chain says what failed (refused, reset, DNS); the top level only "error sending request".
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    UpstreamError::Unreachable(text)
}

/// The workspace's one crypto provider (ring), the system's roots, and the
/// operator's `--feed-ca-cert` besides them.
fn tls(ca_cert: Option<&std::path::Path>) -> Result<rustls::ClientConfig, ClientError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    // A system without a CA bundle still reaches upstreams the operator trusts.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_cert {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| ClientError(format!("--feed-ca-cert {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ClientError(format!(
                "--feed-ca-cert {}: no CERTIFICATE block in it",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ClientError(format!("--feed-ca-cert {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
