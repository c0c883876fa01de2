//! Where a pollpush server (or each node of a cluster) answers: its HTTP base
//! URL and its WebSocket URL, parsed once from `--server` and `--ws-url`.

use super::NetError;
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
}

impl Endpoints {
    /// Derives both addresses from the server's base URL; `ws` overrides the WebSocket one.
    pub fn new(server: &str, ws: Option<&str>) -> Result<Self, NetError> {
        let bad = |reason: &str| NetError::BadUrl {
            url: server.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: ::http::Uri = server.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported for a pollpush server; to watch any HTTPS service use --poll/--push",
                ));
            }
            _ => return Err(bad("expected http://host:port")),
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let authority = format!("{host}:{port}");
        let ws = ws.map_or_else(|| format!("ws://{authority}/ws"), str::to_owned);
        Ok(Self {
            http: format!("http://{authority}"),
            authority,
            ws,
        })
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
        assert!(Endpoints::new("https://h", None).is_err());
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
        assert!(error("http://a:1,https://b", None).contains("https is not supported"));
        assert!(error("http://a:1,http://b:2", Some("ws://a:1/ws")).contains("--ws-url"));
        assert!(!bad.contains('\n'), "one line: {bad}");
    }
}
