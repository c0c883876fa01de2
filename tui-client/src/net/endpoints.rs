//! Where a pollpush server (or each node of a cluster) answers: its HTTP base
//! URL and its WebSocket URL, parsed once from `--server` and `--ws-url`, and
//! how to open a counted connection to either (under TLS for `https://` and
//! `wss://`: pollpush-server speaks plain HTTP, but a deployment puts it
//! behind a TLS-terminating proxy).

use std::sync::Arc;

use super::NetError;
use super::counting::Traffic;
use super::http::HttpChoice;
use super::link::LinkSpec;
use super::origin::Origin;
use super::profile::Profile;
use super::source::SourceAddrs;
use super::tls::{Io, Tls};
use crate::app::nodes;

/// The server's two addresses: HTTP for REST, `ws://` for push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:5000`.
    pub http: String,
    /// `host:port` to open TCP connections to.
    pub authority: String,
    /// The WebSocket URL, e.g. `ws://127.0.0.1:5000/ws`.
    pub ws: String,
    /// The TLS settings for an `https://` or `wss://` URL ([`Nodes::with_tls`]).
    pub tls: Option<Tls>,
    /// The HTTP to speak (`--http`, [`Nodes::with_http`]).
    pub version: HttpChoice,
    /// The headers every lane's requests carry (`--profile`).
    pub profile: Profile,
    /// The emulated link every lane's connection goes through (`--link`).
    pub link: Option<LinkSpec>,
    /// The source addresses connections bind to (`load --source-addrs`).
    pub source: Option<SourceAddrs>,
    /// The upstream feed the lanes watch (`--feed NAME`) instead of the species.
    pub feed: Option<String>,
}

impl Endpoints {
    /// Derives both addresses from the server's base URL; `ws` overrides the WebSocket one.
    pub fn new(server: &str, ws: Option<&str>) -> Result<Self, NetError> {
        let bad = |reason: &str| NetError::BadUrl {
            url: server.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: ::http::Uri = server.parse().map_err(|_| bad("not a URL"))?;
        let (scheme, ws_scheme, default_port) = match uri.scheme_str() {
            Some("http") => ("http", "ws", 80),
            Some("https") => ("https", "wss", 443),
            _ => return Err(bad("expected http://host:port or https://host:port")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(default_port);
        let authority = format!("{host}:{port}");
        let ws = ws.map_or_else(|| format!("{ws_scheme}://{authority}/ws"), str::to_owned);
        Ok(Self {
            http: format!("{scheme}://{authority}"),
            authority,
            ws,
            tls: None,
            version: HttpChoice::Auto,
            profile: Profile::default(),
            link: None,
            source: None,
            feed: None,
        })
    }

    /// A counted connection to the WebSocket URL for an HTTP/1.1 upgrade, under
    /// TLS for `wss://`; records how it speaks.
    pub async fn dial_ws(&self, traffic: Arc<Traffic>) -> Result<Box<dyn Io>, NetError> {
        let origin = Origin::parse(&self.ws, "ws", "wss")?;
        origin
            .dial_with(
                self.tls.as_ref(),
                self.link.as_ref(),
                self.source.as_ref(),
                traffic,
            )
            .await
    }

    /// How a pane and a report name this node: `host:port`.
    pub fn label(&self) -> &str {
        &self.authority
    }

    /// The endpoints of a server listening on `addr`.
    pub fn local(addr: std::net::SocketAddr) -> Self {
        Self {
            http: format!("http://{addr}"),
            authority: addr.to_string(),
            ws: format!("ws://{addr}/ws"),
            tls: None,
            version: HttpChoice::Auto,
            profile: Profile::default(),
            link: None,
            source: None,
            feed: None,
        }
    }

    /// The path of the list the request lanes get: `/species`, or `/feeds/NAME`.
    pub fn list_path(&self) -> String {
        self.feed
            .as_ref()
            .map_or_else(|| "/species".to_owned(), |name| format!("/feeds/{name}"))
    }

    /// The room a push lane subscribes to: `species`, or the feed's name.
    pub fn room(&self) -> &str {
        self.feed
            .as_deref()
            .unwrap_or(pollpush_shared::message::SPECIES_ROOM)
    }

    /// The same node without the conditions of a lane (profile, link): for
    /// the client's own calls, which are not part of the comparison.
    #[must_use]
    pub fn bare(&self) -> Self {
        Self {
            profile: Profile::default(),
            link: None,
            source: None,
            ..self.clone()
        }
    }
}

/// The nodes `--server` names, in the order given: one server, or several
/// nodes of a cluster that serve the same API. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes(Vec<Endpoints>);

impl Nodes {
    /// Parses a comma-separated list of base URLs; `ws` overrides the WebSocket
    /// URL, which only makes sense for a single node.
    pub fn parse(list: &str, ws: Option<&str>) -> Result<Self, NetError> {
        let urls: Vec<&str> = list.split(',').map(str::trim).collect();
        if urls.iter().any(|url| url.is_empty()) {
            return Err(NetError::BadUrl {
                url: list.to_owned(),
                reason: "an empty entry; separate node URLs with single commas".to_owned(),
            });
        }
        if ws.is_some() && urls.len() > 1 {
            return Err(NetError::WsUrlWithNodes(urls.len()));
        }
        let nodes = urls
            .into_iter()
            .map(|url| Endpoints::new(url, ws))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(nodes))
    }

    /// A single node.
    pub fn one(endpoints: Endpoints) -> Self {
        Self(vec![endpoints])
    }

    /// Every node with these TLS settings, for its `https://` and `wss://` URLs.
    pub fn with_tls(mut self, tls: &Tls) -> Self {
        for node in &mut self.0 {
            node.tls = Some(tls.clone());
        }
        self
    }

    /// Every node spoken to in `version`.
    pub fn with_http(mut self, version: HttpChoice) -> Self {
        for node in &mut self.0 {
            node.version = version;
        }
        self
    }

    /// Every node's lanes sending `profile`'s headers, through `link`.
    pub fn with_conditions(mut self, profile: &Profile, link: Option<LinkSpec>) -> Self {
        for node in &mut self.0 {
            node.profile = profile.clone();
            node.link = link;
        }
        self
    }

    /// Every node's lanes watching the upstream feed `name` (`--feed`).
    pub fn with_feed(mut self, name: Option<&str>) -> Self {
        for node in &mut self.0 {
            node.feed = name.map(str::to_owned);
        }
        self
    }

    /// Every node's connections bound to `source`'s addresses in turn.
    pub fn with_source(mut self, source: Option<&SourceAddrs>) -> Self {
        for node in &mut self.0 {
            node.source = source.cloned();
        }
        self
    }

    /// The same nodes with a TLS session cache of their own: one lane's
    /// reconnections resume its own sessions, whatever the other lanes do.
    pub fn with_own_sessions(&self) -> Self {
        let mut nodes = self.clone();
        if let Some(tls) = self.0.iter().find_map(|e| e.tls.as_ref()) {
            nodes = nodes.with_tls(&tls.with_own_sessions());
        }
        nodes
    }

    /// Whether any node is reached over TLS (so `--ca-cert` and `--insecure` matter).
    pub fn any_tls(&self) -> bool {
        self.0
            .iter()
            .any(|e| e.http.starts_with("https:") || e.ws.starts_with("wss:"))
    }

    pub fn all(&self) -> &[Endpoints] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; here because clippy expects it next to `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Node `index`, wrapping, so any index from the rotation rules is valid.
    pub fn get(&self, index: usize) -> &Endpoints {
        &self.0[index % self.0.len()]
    }

    /// The node the poll pane polls and the `n` key writes through.
    pub fn poll(&self) -> &Endpoints {
        self.get(nodes::POLL_NODE)
    }

    /// Every node's label, in order.
    pub fn labels(&self) -> Vec<String> {
        self.0.iter().map(|e| e.label().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_is_derived_from_the_server_url() {
        let e = Endpoints::new("http://example.org:5000/", None).expect("valid");
        assert_eq!(e.ws, "ws://example.org:5000/ws");
        assert_eq!(e.http, "http://example.org:5000");
        let e = Endpoints::new("http://h", Some("ws://other:1/x")).expect("valid");
        assert_eq!(
            (e.authority.as_str(), e.ws.as_str()),
            ("h:80", "ws://other:1/x")
        );
        let e = Endpoints::new("https://h", None).expect("valid");
        assert_eq!(
            (e.http.as_str(), e.ws.as_str()),
            ("https://h:443", "wss://h:443/ws")
        );
        assert!(Endpoints::new("nonsense", None).is_err());
    }

    #[test]
    fn a_server_list_is_split_on_commas_and_keeps_its_order() {
        let nodes = Nodes::parse("http://a:1, http://b:2/,http://c", None).expect("valid");
        assert_eq!(nodes.labels(), ["a:1", "b:2", "c:80"]);
        assert_eq!(nodes.poll().http, "http://a:1");
        assert_eq!(nodes.get(4).label(), "b:2", "indices wrap");
        let one = Nodes::parse("http://a:1", Some("ws://a:1/x")).expect("valid");
        assert_eq!((one.len(), one.poll().ws.as_str()), (1, "ws://a:1/x"));
    }

    #[test]
    fn a_bad_server_list_names_the_bad_entry() {
        let error =
            |list: &str, ws: Option<&str>| Nodes::parse(list, ws).expect_err(list).to_string();
        let bad = error("http://a:1,ftp://b:2", None);
        assert!(
            bad.contains("\"ftp://b:2\"") && bad.contains("http://host:port"),
            "{bad}"
        );
        assert!(error("http://a:1,,http://b:2", None).contains("empty entry"));
        assert!(error("http://a:1,", None).contains("empty entry"));
        assert!(error("", None).contains("empty entry"));
        assert!(error("http://a:1,http://b:2", Some("ws://a:1/ws")).contains("--ws-url"));
        assert!(!bad.contains('\n'), "one line: {bad}");
    }
}
