//! One client connection, HTTP/1.1 or HTTP/2, behind one type: the lanes send
//! the same origin-form requests either way, and this is the one place that
//! knows h2 carries the host as `:authority` and the scheme as `:scheme`.

use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::super::NetError;
use crate::event::HttpVersion;
use crate::net::tls::Io;

/// The request half of a connection.
pub enum Sender {
    H1(http1::SendRequest<String>),
    H2 {
        sender: http2::SendRequest<String>,
        /// `http` or `https`, for the requests' `:scheme`.
        scheme: &'static str,
    },
}

impl Sender {
    /// Speaks `version` over an open (counted, maybe TLS) stream; `tls` says
    /// which scheme h2 requests name.
    pub async fn handshake(
        io: Box<dyn Io>,
        version: HttpVersion,
        tls: bool,
    ) -> Result<Self, NetError> {
        let io = TokioIo::new(io);
        match version {
            HttpVersion::H1 => {
                let (sender, connection) = http1::handshake(io).await?;
                tokio::spawn(async move {
                    // Ends when the server closes the connection; the next request reconnects.
                    let _ = connection.await;
                });
                Ok(Self::H1(sender))
            }
            HttpVersion::H2 => {
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .handshake(io)
                    .await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                let scheme = if tls { "https" } else { "http" };
                Ok(Self::H2 { sender, scheme })
            }
        }
    }

    /// The connection can take no more requests.
    pub fn is_closed(&self) -> bool {
        match self {
            Self::H1(sender) => sender.is_closed(),
            Self::H2 { sender, .. } => sender.is_closed(),
        }
    }

    /// Sends `request` (origin-form, with a `Host` header) once the connection
    /// can take it; the response head, its body still to read.
    pub async fn send(
        &mut self,
        request: http::Request<String>,
    ) -> Result<http::Response<Incoming>, NetError> {
        match self {
            Self::H1(sender) => {
                sender.ready().await?;
                Ok(sender.send_request(request).await?)
            }
            Self::H2 { sender, scheme } => {
                let request = h2_form(request, scheme)?;
                sender.ready().await?;
                Ok(sender.send_request(request).await?)
            }
        }
    }
}

/// The h2 form of an origin-form request: its `Host` becomes the URI's
/// authority (`:authority`), so it is not sent twice.
pub fn h2_form(
    mut request: http::Request<String>,
    scheme: &str,
) -> Result<http::Request<String>, NetError> {
    let bad = |reason: String| NetError::Unexpected(format!("cannot send over h2: {reason}"));
    let host = request
        .headers_mut()
        .remove(http::header::HOST)
        .ok_or_else(|| bad("no Host header".to_owned()))?;
    let host = host.to_str().map_err(|e| bad(e.to_string()))?;
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    *request.uri_mut() = http::Uri::builder()
        .scheme(scheme)
        .authority(host)
        .path_and_query(path)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_h2_request_names_its_host_as_the_authority_only() {
        let request = http::Request::get("/species?x=1")
            .header(http::header::HOST, "example.org:8443")
            .header(http::header::ACCEPT, "application/json")
            .body(String::new())
            .expect("a request");
        let request = h2_form(request, "https").expect("h2 form");
        assert_eq!(
            request.uri().to_string(),
            "https://example.org:8443/species?x=1"
        );
        assert!(request.headers().get(http::header::HOST).is_none());
        assert_eq!(request.headers().len(), 1);
    }
}
