//! TLS for every lane that leaves the machine: one rustls configuration (ring,
//! the workspace's single crypto provider), built once from the flags.
//!
//! The handshake runs on top of the byte-counting socket, so a pane's traffic
//! includes the TLS records and handshake: what the wire carried. Each
//! handshake is counted, full or resumed, and the sessions to resume are kept
//! per [`Tls`] value: a lane that reconnects resumes its own session.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, HandshakeKind, ProtocolVersion, RootCertStore,
    SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::NetError;
use super::counting::Traffic;
use crate::event::TlsVersion;

/// What the user asked of certificate checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra certificates to trust (PEM files), besides the system's.
    pub ca_certs: Vec<PathBuf>,
    /// Skip verification entirely (`--insecure`).
    pub insecure: bool,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read --ca-cert {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("no certificate to trust (no system roots, no --ca-cert): {0}")]
    Roots(String),
}

/// A stream a lane reads and writes, plain or under TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The client configurations TLS connections use: one per ALPN offer, all
/// sharing one session cache so that a reconnection resumes.
#[derive(Clone)]
pub struct Tls {
    configs: Arc<Configs>,
}

struct Configs {
    h1: Arc<ClientConfig>,
    h2: Arc<ClientConfig>,
    either: Arc<ClientConfig>,
}

/// The application protocols a handshake offers (ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// `http/1.1` only: a client that cannot speak h2 must not be given it.
    H1,
    /// `h2` only (`--http 2`).
    H2,
    /// `h2` then `http/1.1`: the server chooses.
    Either,
}

/// A TLS connection and what its handshake agreed.
pub struct Secured {
    pub io: Box<dyn Io>,
    /// The server chose `h2` by ALPN.
    pub h2: bool,
    pub version: Option<TlsVersion>,
}

/// One configuration is built per run and shared: the same one is equal.
impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.configs, &other.configs)
    }
}

impl Eq for Tls {}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// Sessions kept for resumption per [`Tls`]: a few per server is plenty.
const SESSIONS: usize = 64;

impl Configs {
    /// The three ALPN variants of `base`, with one fresh session cache.
    fn of(base: &ClientConfig) -> Self {
        let sessions = Resumption::store(Arc::new(ClientSessionMemoryCache::new(SESSIONS)));
        let with = |alpn: &[&[u8]]| {
            let mut config = base.clone();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            config.resumption = sessions.clone();
            Arc::new(config)
        };
        Self {
            h1: with(&[b"http/1.1"]),
            h2: with(&[b"h2"]),
            either: with(&[b"h2", b"http/1.1"]),
        }
    }
}

/// Makes ring the process's provider; later calls are no-ops.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Tls {
    /// The system's roots plus `--ca-cert`, or no checks with `--insecure`.
    pub fn new(options: &TlsOptions) -> Result<Self, TlsError> {
        install_provider();
        let verifier = if options.insecure {
            Verifier {
                webpki: None,
                pinned: Vec::new(),
            }
        } else {
            let mut pinned = Vec::new();
            for path in &options.ca_certs {
                pinned.extend(
                    read_pem(path)?
                        .into_iter()
                        .map(|cert| (path.as_path(), cert)),
                );
            }
            Verifier {
                webpki: Some(webpki(&pinned)?),
                pinned: pinned.into_iter().map(|(_, cert)| cert).collect(),
            }
        };
        let config = ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Self {
            configs: Arc::new(Configs::of(&config)),
        })
    }

    /// The same checks with a session cache of its own, so that one lane's
    /// handshakes (full or resumed) do not depend on another's.
    pub fn with_own_sessions(&self) -> Self {
        Self {
            configs: Arc::new(Configs::of(&self.configs.h1)),
        }
    }

    /// Runs the handshake for `host` over `stream` (already counting bytes),
    /// offering `offer`, and counts it in `traffic`.
    pub async fn connect<S: Io + 'static>(
        &self,
        host: &str,
        stream: S,
        offer: Offer,
        traffic: &Traffic,
    ) -> Result<Secured, NetError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| NetError::BadUrl {
            url: host.to_owned(),
            reason: "not a valid TLS server name".to_owned(),
        })?;
        let config = match offer {
            Offer::H1 => &self.configs.h1,
            Offer::H2 => &self.configs.h2,
            Offer::Either => &self.configs.either,
        };
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let tls = connector
            .connect(name, stream)
            .await
            .map_err(|e| tls_error(&e))?;
        let (_, session) = tls.get_ref();
        traffic.handshake(session.handshake_kind() == Some(HandshakeKind::Resumed));
        let version = match session.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => Some(TlsVersion::V1_3),
            Some(ProtocolVersion::TLSv1_2) => Some(TlsVersion::V1_2),
            _ => None,
        };
        Ok(Secured {
            h2: session.alpn_protocol() == Some(&b"h2"[..]),
            version,
            io: Box::new(tls),
        })
    }
}

/// The usual chain checks against the system's roots and the `--ca-cert` certificates.
fn webpki(
    extra: &[(&Path, CertificateDer<'static>)],
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: --ca-cert may be all that is needed.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for (path, cert) in extra {
        roots.add(cert.clone()).map_err(|e| TlsError::CaCert {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| TlsError::Roots(e.to_string()))
}

/// One line a user can act on; an untrusted certificate says how to trust it.
fn tls_error(error: &std::io::Error) -> NetError {
    let text = error
        .get_ref()
        .map_or_else(|| error.to_string(), ToString::to_string);
    if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        NetError::Tls(format!(
            "certificate not trusted: add it with --ca-cert FILE (or skip checks: --insecure) · {text}"
        ))
    } else {
        NetError::Tls(text)
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::CaCert {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// The usual chain checks against the roots (none with `--insecure`), and one
/// exception: a server presenting exactly a certificate given with
/// `--ca-cert`. `openssl req -x509` makes self-signed certificates marked as
/// CAs, which webpki refuses as a server's own (`CaUsedAsEndEntity`), while
/// curl and browsers accept them once trusted; a user who names the very
/// certificate means to trust it. The handshake's signatures are always checked.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
            .or_else(|error| {
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref())
                {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(error)
                }
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}
