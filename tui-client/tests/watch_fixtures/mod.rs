//! Services that are not pollpush servers, for the watch lanes' tests: each
//! written with other crates (rustls, tungstenite, socketioxide) or by hand,
//! on port 0, counting every byte it writes on its TCP sockets.

#![allow(dead_code)]

pub mod peers;

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_util::SinkExt;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

/// Bytes a fixture wrote on its sockets, TLS records included.
#[derive(Debug, Default, Clone)]
pub struct Written(Arc<AtomicU64>);

impl Written {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A socket that adds what it writes to a [`Written`].
pub struct Counted {
    inner: TcpStream,
    written: Written,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &result {
            self.written.0.fetch_add(*n as u64, Ordering::SeqCst);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A self-signed certificate for `localhost` and 127.0.0.1, and its PEM file.
pub struct SelfSigned {
    pub acceptor: TlsAcceptor,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn self_signed() -> SelfSigned {
    certificate(false)
}

/// A self-signed certificate marked as a CA, as `openssl req -x509` makes them.
pub fn self_signed_ca() -> SelfSigned {
    certificate(true)
}

fn certificate(is_ca: bool) -> SelfSigned {
    pollpush_client::net::tls::install_provider();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let mut params = rcgen::CertificateParams::new(names).expect("names");
    if is_ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let signing_key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.self_signed(&signing_key).expect("a certificate");
    let key = rcgen::CertifiedKey { cert, signing_key };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, key.cert.pem()).expect("write the certificate");
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .expect("a server configuration");
    SelfSigned {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file,
        _dir: dir,
    }
}

/// A listener on port 0 whose accepted sockets count what they write,
/// wrapped in TLS when `tls` is given.
pub struct Fixture {
    pub port: u16,
    pub written: Written,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(
    listener: &TcpListener,
    tls: Option<&TlsAcceptor>,
    written: &Written,
) -> Option<Box<dyn Io>> {
    let (tcp, _) = listener.accept().await.ok()?;
    let counted = Counted {
        inner: tcp,
        written: written.clone(),
    };
    match tls {
        // A refused handshake (the client does not trust us) is not the fixture's failure.
        Some(acceptor) => acceptor
            .accept(counted)
            .await
            .ok()
            .map(|s| Box::new(s) as Box<dyn Io>),
        None => Some(Box::new(counted)),
    }
}

/// Serves each connection with `serve` until the test drops the fixture.
pub async fn serve<F, Fut>(tls: Option<TlsAcceptor>, serve: F) -> Fixture
where
    F: Fn(Box<dyn Io>, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let written = Written::default();
    let counter = written.clone();
    let task = tokio::spawn(async move {
        let mut connection = 0;
        loop {
            if let Some(io) = accept(&listener, tls.as_ref(), &counter).await {
                tokio::spawn(serve(io, connection));
                connection += 1;
            }
        }
    });
    Fixture {
        port,
        written,
        task,
    }
}

/// Reads one request head; `None` when the client closed.
pub async fn read_head(io: &mut Box<dyn Io>) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if io.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// An HTTP/1.1 server answering every `GET` with a new JSON list (no ETag),
/// so each poll is an update.
pub async fn http_json(tls: Option<TlsAcceptor>) -> Fixture {
    http_answering(tls, |n| format!(r#"[{{"id":1,"name":"Tomate","n":{n}}}]"#)).await
}

/// An HTTP/1.1 server answering the n-th `GET` of a connection (from 1) with
/// the JSON `body(n)`, without an ETag.
pub async fn http_answering<B>(tls: Option<TlsAcceptor>, body: B) -> Fixture
where
    B: Fn(u64) -> String + Clone + Send + Sync + 'static,
{
    serve(tls, move |mut io, _| {
        let body = body.clone();
        async move {
            let mut n = 0;
            while read_head(&mut io).await.is_some() {
                n += 1;
                let body = body(n);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if io.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// A WebSocket server that sends `count` text messages to each client, then stays open.
pub async fn websocket(tls: Option<TlsAcceptor>, count: usize) -> Fixture {
    serve(tls, move |io, _| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(io).await else {
            return;
        };
        for n in 0..count {
            let text = format!(r#"{{"n":{n}}}"#);
            if ws.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = futures_util::StreamExt::next(&mut ws).await;
    })
    .await
}

/// An SSE server: `count` events with ids, then the stream stays open.
pub async fn event_stream(count: usize) -> Fixture {
    serve(None, move |mut io, _| async move {
        if read_head(&mut io).await.is_none() {
            return;
        }
        let mut events = String::new();
        for n in 0..count {
            let _ = write!(events, "id: {n}\nevent: tick\ndata: {{\"n\":{n}}}\n\n");
        }
        let out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n{events}"
        );
        if io.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let mut rest = [0u8; 1];
        let _ = io.read(&mut rest).await;
    })
    .await
}

/// A socket.io server (socketioxide, Engine.IO 3 and 4) that answers the
/// talk's `hi!` with a `species` event carrying one list.
pub async fn socketio() -> Fixture {
    socketio_built(socketioxide::SocketIo::builder()).await
}

/// The same server, refusing the WebSocket transport: long-polling only.
pub async fn socketio_polling_only() -> Fixture {
    let polling = [socketioxide::TransportType::Polling];
    socketio_built(socketioxide::SocketIo::builder().transports(polling)).await
}

async fn socketio_built(builder: socketioxide::SocketIoBuilder) -> Fixture {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use socketioxide::extract::SocketRef;

    let (svc, io) = builder.build_svc();
    io.ns("/", async |s: SocketRef| {
        s.on("hi!", async |s: SocketRef| {
            let list =
                serde_json::json!([{"id": 1, "name": "Tomate"}, {"id": 2, "name": "AThaliana"}]);
            // A 1-tuple: one argument, the list.
            let _ = s.emit("species", &(list,));
        });
    });
    serve(None, move |io, _| {
        let svc = svc.clone();
        async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(svc))
                .await;
        }
    })
    .await
}

/// A socket.io 2.x server as far as the WebSocket transport goes: it refuses
/// Engine.IO 4 with `400` (as python-socketio 4 and socket.io 2 do), answers
/// `hi!` with `species`, and answers the client's pings with pongs.
// tungstenite's handshake callback returns its own (large) error response type.
#[allow(clippy::result_large_err)]
pub async fn socketio_v2() -> Fixture {
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    serve(None, |io, _| async move {
        let refuse_v4 = |request: &Request, response: Response| {
            let query = request.uri().query().unwrap_or_default();
            if query.contains("EIO=3") {
                Ok(response)
            } else {
                let mut refused = ErrorResponse::new(Some("Unsupported protocol version".into()));
                *refused.status_mut() = http::StatusCode::BAD_REQUEST;
                Err(refused)
            }
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(io, refuse_v4).await else {
            return;
        };
        let open = r#"0{"sid":"x","upgrades":[],"pingInterval":1000,"pingTimeout":5000}"#;
        if ws.send(Message::Text(open.into())).await.is_err() {
            return;
        }
        while let Some(Ok(Message::Text(text))) = futures_util::StreamExt::next(&mut ws).await {
            let reply = match text.as_str() {
                "40" => "40".to_owned(),
                "2" => "3".to_owned(),
                t if t.starts_with(r#"42["hi!""#) => {
                    r#"42["species",[{"id":1,"name":"Tomate"}]]"#.to_owned()
                }
                _ => continue,
            };
            if ws.send(Message::Text(reply.into())).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// A WebSocket server that echoes every text message.
pub async fn websocket_echo() -> Fixture {
    serve(None, |io, _| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(io).await else {
            return;
        };
        while let Some(Ok(Message::Text(text))) = futures_util::StreamExt::next(&mut ws).await {
            if ws.send(Message::Text(text)).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// An HTTP server that answers `401` unless the request carries `header`.
pub async fn http_requiring(header: &'static str) -> Fixture {
    serve(None, move |mut io, _| async move {
        while let Some(head) = read_head(&mut io).await {
            let response = if head.to_ascii_lowercase().contains(header) {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
            } else {
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"
            };
            if io.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// An HTTP server that redirects `/old` to `/new` (relative `Location`) and answers there.
pub async fn http_redirect() -> Fixture {
    serve(None, |mut io, _| async move {
        while let Some(head) = read_head(&mut io).await {
            let response = if head.starts_with("GET /old ") {
                "HTTP/1.1 302 Found\r\nlocation: /new\r\ncontent-length: 0\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nmoved"
            };
            if io.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}
