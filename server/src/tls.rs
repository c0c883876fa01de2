//! TLS served by the server itself: certificates, the rustls configuration
//! (ALPN `h2` then `http/1.1`, TLS 1.2 and 1.3, resumption by tickets and a
//! session cache) and the handshake, done on the accepted socket with its
//! bytes counted.
//!
//! After the handshake the connection's [`rustls::ServerConnection`] moves
//! into its [`Wire`](crate::wire::Wire), which encrypts every write, the
//! owner's and the change feed's: a change is framed once for every
//! subscriber and encrypted once per connection, with no task or queue of
//! its own (see `wire/tls.rs`). tokio-rustls is not used here because its
//! stream would sit between the socket and the wire, where neither the
//! fan-out's direct write nor the byte counting could reach the socket.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;
use tokio::net::TcpStream;

/// Why the server cannot serve TLS with what it was given: one line that
/// names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {0}: {1}")]
    Cert(PathBuf, String),
    #[error("cannot read the TLS key {0}: {1}")]
    Key(PathBuf, String),
    #[error("the TLS key {key} does not match the certificate {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("cannot write the self-signed certificate to {0}: {1}")]
    Write(PathBuf, io::Error),
}

/// Makes ring the process's default rustls provider, if none is yet. The
/// gateway's reqwest is built without a provider of its own (so the
/// workspace keeps one, ring), and reqwest's `Client::new()` then needs a
/// default: the server, its tests and its examples call this first.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Sessions remembered for resumption by id (TLS 1.2 and clients without tickets).
const SESSION_CACHE: usize = 4096;

/// The server's TLS configuration from PEM files.
pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Cert(cert.to_owned(), e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Cert(cert.to_owned(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Cert(
            cert.to_owned(),
            "no CERTIFICATE block in it".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key(key.to_owned(), e.to_string()))?;
    config(certs, private).map_err(|reason| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason,
    })
}

/// A certificate for `localhost` and 127.0.0.1 made now, its PEM written to
/// `cert_path` (for clients to trust), and the configuration serving it.
pub fn self_signed(cert_path: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    std::fs::write(cert_path, made.cert.pem())
        .map_err(|e| TlsError::Write(cert_path.to_owned(), e))?;
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    config(vec![made.cert.der().clone()], key).map_err(TlsError::SelfSigned)
}

fn config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    // The client's provider (ring), so the workspace has one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// How a handshake went, for `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub resumed: bool,
    /// ALPN chose HTTP/2.
    pub h2: bool,
    pub tls13: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Runs the server side of a handshake on `tcp`, counting its bytes, and
/// sends what follows it at once (TLS 1.3 session tickets).
pub async fn accept(
    tcp: &TcpStream,
    config: Arc<ServerConfig>,
) -> io::Result<(rustls::ServerConnection, Handshake)> {
    let mut conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let (mut bytes_in, mut bytes_out) = (0, 0);
    loop {
        while conn.wants_write() {
            tcp.writable().await?;
            match conn.write_tls(&mut SocketWriter(tcp)) {
                Ok(n) => bytes_out += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if !conn.is_handshaking() {
            break;
        }
        tcp.readable().await?;
        match conn.read_tls(&mut SocketReader(tcp)) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                bytes_in += n as u64;
                if let Err(e) = conn.process_new_packets() {
                    // The alert that says why goes out before the close.
                    let _ = conn.write_tls(&mut SocketWriter(tcp));
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    let handshake = Handshake {
        resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        h2: conn.alpn_protocol() == Some(b"h2"),
        tls13: conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3),
        bytes_in,
        bytes_out,
    };
    Ok((conn, handshake))
}

/// The socket as a blocking-style writer that never blocks: `WouldBlock`
/// when the kernel's buffer is full, which rustls passes back.
pub struct SocketWriter<'a>(pub &'a TcpStream);

impl io::Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket as a reader that never blocks.
pub struct SocketReader<'a>(pub &'a TcpStream);

impl io::Read for SocketReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}
