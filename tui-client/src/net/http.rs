//! HTTP/1.1 and HTTP/2 over a socket that counts every byte (headers, h2
//! frames and TLS records included), shared by the lanes that speak plain
//! HTTP (polling, long-polling, SSE) and by the client's own calls.
//!
//! hyper's connection API is used rather than reqwest because a reqwest
//! connector layer cannot wrap its connection type, so it cannot count bytes.

mod kept;
mod sender;

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::counting::Traffic;
use super::origin::Origin;
use super::tls::{Io, Offer};
use super::{Endpoints, NetError};
use crate::event::{HttpVersion, Wire};
pub use kept::KeptAlive;
pub use sender::{Sender, h2_form};

/// Which HTTP the client speaks (`--http`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpChoice {
    /// ALPN's choice on `https://`, HTTP/1.1 on `http://`.
    #[default]
    #[value(skip)]
    Auto,
    #[value(name = "1.1")]
    H1,
    /// HTTP/2; on `http://` h2c with prior knowledge.
    #[value(name = "2")]
    H2,
}

/// Opens a connection to `endpoints` whose bytes go to `traffic`, under TLS
/// for https, speaking the HTTP `endpoints.version` asks for; records how it speaks.
pub async fn connect(endpoints: &Endpoints, traffic: Arc<Traffic>) -> Result<Sender, NetError> {
    let origin = Origin::parse(&endpoints.http, "http", "https")?;
    let dialed = dial(&origin, endpoints, endpoints.version, traffic).await?;
    Sender::handshake(dialed.io, dialed.version, origin.tls).await
}

/// An open connection and the HTTP it is to speak.
pub struct Dialed {
    pub io: Box<dyn Io>,
    pub version: HttpVersion,
}

/// Opens a counted connection to `origin` (the REST base or the WebSocket URL
/// of `endpoints`), under TLS when its scheme says so,
/// and settles the HTTP version (ALPN's answer, or `choice` in cleartext);
/// records how it speaks in `traffic`.
pub async fn dial(
    origin: &Origin,
    endpoints: &Endpoints,
    choice: HttpChoice,
    traffic: Arc<Traffic>,
) -> Result<Dialed, NetError> {
    let offer = match choice {
        HttpChoice::Auto => Offer::Either,
        HttpChoice::H1 => Offer::H1,
        HttpChoice::H2 => Offer::H2,
    };
    let secured = origin
        .dial_offering(
            endpoints.tls.as_ref(),
            endpoints.link.as_ref(),
            endpoints.source.as_ref(),
            offer,
            traffic.clone(),
        )
        .await?;
    let version = match (origin.tls, choice) {
        // A server that ignores ALPN speaks HTTP/1.1 (RFC 7301).
        (true, HttpChoice::H2) if !secured.h2 => {
            return Err(NetError::Tls(format!(
                "{} did not agree to HTTP/2 (ALPN h2): try --http 1.1",
                origin.label()
            )));
        }
        (true, _) if secured.h2 => HttpVersion::H2,
        (false, HttpChoice::H2) => HttpVersion::H2,
        _ => HttpVersion::H1,
    };
    traffic.spoke(Wire {
        http: Some(version),
        tls: secured.version,
    });
    Ok(Dialed {
        io: secured.io,
        version,
    })
}

/// HTTP/1.1 over an open (counted, maybe TLS) stream: the watch lanes' own connections.
pub async fn handshake(io: Box<dyn Io>) -> Result<SendRequest<String>, NetError> {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        // Ends when the server closes the connection; the next request reconnects.
        let _ = connection.await;
    });
    Ok(sender)
}

/// A `GET` of `path` on `endpoints`, with `headers` and the lanes' profile.
pub fn get(
    endpoints: &Endpoints,
    path: &str,
    headers: &[(http::HeaderName, String)],
) -> Result<http::Request<String>, NetError> {
    let mut request = get_from(&endpoints.authority, path, headers)?;
    endpoints.profile.apply(request.headers_mut());
    Ok(request)
}

/// A `GET` with an origin-form request line (`GET /path HTTP/1.1` and a
/// `Host` header), the form servers expect from a client that is not a proxy.
pub fn get_from(
    host: &str,
    path: &str,
    headers: &[(http::HeaderName, String)],
) -> Result<http::Request<String>, NetError> {
    request(http::Method::GET, host, path, headers, String::new())
}

/// Any origin-form request; [`Sender`] turns it into h2's form when needed.
pub fn request(
    method: http::Method,
    host: &str,
    path: &str,
    headers: &[(http::HeaderName, String)],
    body: String,
) -> Result<http::Request<String>, NetError> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
        .body(body)
        .map_err(|e| NetError::Unexpected(e.to_string()))
}

pub fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses an HTTP `Date` (IMF-fixdate, e.g. `Wed, 25 Nov 2026 10:00:00 GMT`).
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The next data chunk of a body; `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, hyper::Error> {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// A whole body.
pub async fn read_body(mut body: Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let at = parse_http_date("Wed, 25 Nov 2026 10:00:00 GMT").expect("valid date");
        assert_eq!(
            pollpush_shared::time::format(&at),
            "2026-11-25T10:00:00.000000Z"
        );
        assert!(parse_http_date("yesterday").is_none());
    }
}
