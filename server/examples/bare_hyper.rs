//! The REST ceiling: a bare hyper 1 server answering `GET /species/` with
//! exactly the response pollpush-server sends, for `bench/rest_ceiling.sh`.
//!
//! The response is read from a file as `curl -si` printed it (status line,
//! headers, blank line, body), captured from a running pollpush-server, so
//! both send the same status, headers and body. `date` and `content-length`
//! are left out of the file's headers: hyper writes them itself, as it does
//! for pollpush. Any other request gets an empty 404.
//!
//! The runtime and socket set-up match pollpush-server's, so the comparison
//! measures only what pollpush does per request: `#[tokio::main]` (the
//! multi-thread runtime, one worker per core, as `server/src/main.rs`), one
//! task per connection, `TCP_NODELAY` on every accepted socket. It serves
//! HTTP/1 only (no per-connection HTTP/2 sniff), and has no routing, CORS,
//! counters or timeouts: that is what makes it the ceiling.
//!
//! ```sh
//! curl -si http://127.0.0.1:5000/species/ > /tmp/species.http
//! cargo run --release -p pollpush-server --example bare_hyper -- \
//!     --addr 127.0.0.1:5001 --response /tmp/species.http
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http::header::{CONTENT_LENGTH, DATE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Serve one captured response at `GET /species/`, as fast as hyper can.
#[derive(Debug, Parser)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5001")]
    addr: SocketAddr,
    /// The response to send, as printed by `curl -si`.
    #[arg(long)]
    response: PathBuf,
}

/// The captured answer; every request clones it (two reference counts and
/// one header map), as a handler that builds its answer from cached parts would.
#[derive(Debug)]
struct Captured {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let raw = std::fs::read(&cli.response)
        .with_context(|| format!("cannot read {}", cli.response.display()))?;
    let captured = Arc::new(parse(&raw)?);
    let listener = tokio::net::TcpListener::bind(cli.addr)
        .await
        .with_context(|| format!("cannot listen on {}", cli.addr))?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let captured = captured.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            std::future::ready(Ok::<_, Infallible>(answer(&captured, &req)))
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn answer(captured: &Captured, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::default());
    if matches!(*req.method(), Method::GET | Method::HEAD) && req.uri().path() == "/species/" {
        *r.body_mut() = Full::new(captured.body.clone());
        *r.status_mut() = captured.status;
        *r.headers_mut() = captured.headers.clone();
    } else {
        *r.status_mut() = StatusCode::NOT_FOUND;
    }
    r
}

/// Splits `curl -si` output into status, headers (less those hyper writes) and body.
fn parse(raw: &[u8]) -> anyhow::Result<Captured> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no blank line after the headers: capture with `curl -si`")?;
    let head = std::str::from_utf8(&raw[..split]).context("headers are not UTF-8")?;
    let body = Bytes::copy_from_slice(&raw[split + 4..]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code = status_line
        .split(' ')
        .nth(1)
        .context("no status code in the first line")?;
    let status = StatusCode::from_bytes(code.as_bytes())?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("not a header line: {line:?}"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())?;
        if name == DATE || name == CONTENT_LENGTH {
            continue;
        }
        headers.append(name, HeaderValue::from_str(value.trim())?);
    }
    Ok(Captured {
        status,
        headers,
        body,
    })
}
