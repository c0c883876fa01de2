//! Where a watched URL lives (scheme, host, port, path) and how to open a
//! counted connection to it, under TLS when the scheme says so.

use std::sync::Arc;

use super::NetError;
use super::counting::{CountingStream, Traffic};
use super::link::LinkSpec;
use super::source::{self, SourceAddrs};
use super::tls::{Io, Offer, Secured, Tls};
use crate::event::{HttpVersion, Wire};

/// A parsed URL of a lane: everything needed to connect and to write an
/// origin-form request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The URL as the user gave it (without a `#fragment`), for messages.
    pub url: String,
    pub scheme: String,
    pub tls: bool,
    /// Without IPv6 brackets, as a socket and a TLS name want it.
    pub host: String,
    pub port: u16,
    /// Path and query, `/` at least: the request line's target.
    pub path: String,
}

impl Origin {
    /// Parses `url`, whose scheme must be one of `plain` (no TLS) or `secure`.
    pub fn parse(url: &str, plain: &str, secure: &str) -> Result<Self, NetError> {
        let bad = |reason: String| NetError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL".to_owned()))?;
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        let tls = match scheme.as_str() {
            s if s == plain => false,
            s if s == secure => true,
            _ => return Err(bad(format!("expected {plain}:// or {secure}://"))),
        };
        let host = uri.host().ok_or_else(|| bad("no host".to_owned()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        Ok(Self {
            url: url.to_owned(),
            scheme,
            tls,
            host,
            port,
            path,
        })
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `host:port`, how a pane names the service.
    pub fn label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The same place with another scheme and path (a redirect, a derived URL).
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            path: path.to_owned(),
            ..self.clone()
        }
    }

    /// Opens a TCP connection whose bytes go to `traffic`, with TLS on top when
    /// the scheme asks for it (so the handshake and the records are counted).
    pub async fn dial(&self, tls: &Tls, traffic: Arc<Traffic>) -> Result<Box<dyn Io>, NetError> {
        self.dial_with(Some(tls), None, None, traffic).await
    }

    /// [`Origin::dial`] where a plain-text origin needs no TLS settings.
    /// Offers only HTTP/1.1, and records it: the watch lanes speak nothing else.
    pub async fn dial_with(
        &self,
        tls: Option<&Tls>,
        link: Option<&LinkSpec>,
        source: Option<&SourceAddrs>,
        traffic: Arc<Traffic>,
    ) -> Result<Box<dyn Io>, NetError> {
        let secured = self
            .dial_offering(tls, link, source, Offer::H1, traffic.clone())
            .await?;
        traffic.spoke(Wire {
            http: Some(HttpVersion::H1),
            tls: secured.version,
        });
        Ok(secured.io)
    }

    /// Opens a counted TCP connection (from the next of `source`'s addresses
    /// when given), through the emulated `link` when there is one (below TLS: it delays the wire's bytes), under TLS offering
    /// `offer` when the scheme asks for it; says what the handshake agreed.
    pub async fn dial_offering(
        &self,
        tls: Option<&Tls>,
        link: Option<&LinkSpec>,
        source: Option<&SourceAddrs>,
        offer: Offer,
        traffic: Arc<Traffic>,
    ) -> Result<Secured, NetError> {
        let tcp = source::connect(&self.host, self.port, source)
            .await
            .map_err(|e| NetError::Connect {
                to: self.label(),
                error: e,
            })?;
        tcp.set_nodelay(true)?;
        let wire: Box<dyn Io> = match link {
            Some(link) => {
                link.handshake().await;
                Box::new(link.wrap(tcp))
            }
            None => Box::new(tcp),
        };
        let counted = CountingStream::new(wire, traffic.clone());
        match (self.tls, tls) {
            (false, _) => Ok(Secured {
                io: Box::new(counted),
                h2: false,
                version: None,
            }),
            (true, Some(tls)) => tls.connect(&self.host, counted, offer, &traffic).await,
            (true, None) => Err(NetError::Tls(format!("no TLS settings for {}", self.url))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_a_request_needs() {
        let o = Origin::parse("https://example.org/a/b?c=1", "http", "https").expect("valid");
        assert!(o.tls);
        assert_eq!((o.host.as_str(), o.port), ("example.org", 443));
        assert_eq!(
            (o.path.as_str(), o.host_header()),
            ("/a/b?c=1", "example.org".to_owned())
        );
        let o = Origin::parse("http://[::1]:8080", "http", "https").expect("valid");
        assert_eq!((o.host.as_str(), o.path.as_str()), ("::1", "/"));
        assert_eq!(o.host_header(), "[::1]:8080");
        let wrong = Origin::parse("ftp://h/", "http", "https").expect_err("wrong scheme");
        assert!(
            wrong.to_string().contains("expected http:// or https://"),
            "{wrong}"
        );
    }
}
