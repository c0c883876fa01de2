//! HTTP/1.1 over a socket that counts every byte (headers included), shared
//! by the lanes that speak plain HTTP: polling, long-polling and SSE.
//!
//! hyper's connection API is used rather than reqwest because a reqwest
//! connector layer cannot wrap its connection type, so it cannot count bytes.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::counting::Traffic;
use super::tls::Io;
use super::{Endpoints, NetError};

/// Opens a connection to `endpoints` whose bytes go to `traffic`, under TLS for https.
pub async fn connect(
    endpoints: &Endpoints,
    traffic: Arc<Traffic>,
) -> Result<SendRequest<String>, NetError> {
    handshake(endpoints.dial_http(traffic).await?).await
}

/// HTTP/1.1 over an open (counted, maybe TLS) stream.
pub async fn handshake(io: Box<dyn Io>) -> Result<SendRequest<String>, NetError> {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        // Ends when the server closes the connection; the next request reconnects.
        let _ = connection.await;
    });
    Ok(sender)
}

/// A `GET` of `path` on `endpoints`, with `headers`.
pub fn get(
    endpoints: &Endpoints,
    path: &str,
    headers: &[(http::HeaderName, String)],
) -> Result<http::Request<String>, NetError> {
    get_from(&endpoints.authority, path, headers)
}

/// A `GET` with an origin-form request line (`GET /path HTTP/1.1` and a
/// `Host` header), the form servers expect from a client that is not a proxy.
pub fn get_from(
    host: &str,
    path: &str,
    headers: &[(http::HeaderName, String)],
) -> Result<http::Request<String>, NetError> {
    let mut request = http::Request::get(path).header(http::header::HOST, host);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
        .body(String::new())
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
