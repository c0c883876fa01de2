//! Watching a service that is not a pollpush server: any URL polled (`--poll`)
//! beside any push feed (`--push`: WebSocket, SSE or socket.io). Each is one
//! more lane behind the same interface; what they see becomes a
//! [`Payload`], measured by what any service allows (updates, gaps, bytes).

pub mod payload;
pub mod poll;
pub mod socketio;
pub mod sse;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::counting::Traffic;
use super::origin::Origin;
use super::tls::Tls;
use super::{NetError, Nodes, Sink, resume};
use crate::event::LaneEvent;
use crate::lane::{FeedProtocol, LaneKind};
pub use payload::Fields;

/// Everything the watch lanes need, from the command line.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub poll: Option<Origin>,
    pub push: Option<Feed>,
    /// `-H`: sent with every request and handshake of both lanes.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `--send`: WebSocket text messages sent after connecting.
    pub sends: Vec<String>,
    /// `--emit`: socket.io events (name and JSON argument) sent after connecting.
    pub emits: Vec<(String, serde_json::Value)>,
    pub timeout: Duration,
    pub tls: Tls,
    pub fields: Fields,
}

/// A push feed, by its URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// `ws://`, `wss://`: every message is an update.
    Ws(Origin),
    /// `sse+http://`, `sse+https://`: every event is an update.
    Sse(Origin),
    /// `socketio://`, `socketios://`: every `event` (every event when `None`).
    SocketIo {
        origin: Origin,
        event: Option<String>,
    },
}

impl Feed {
    /// Parses `--push`: the scheme picks the protocol.
    pub fn parse(url: &str) -> Result<Self, NetError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("ws" | "wss") => Ok(Self::Ws(Origin::parse(url, "ws", "wss")?)),
            Some("sse+http" | "sse+https") => {
                let mut origin = Origin::parse(&url[4..], "http", "https")?;
                url.clone_into(&mut origin.url);
                Ok(Self::Sse(origin))
            }
            // An http(s) URL is taken as an event stream; the lane checks the answer's type.
            Some("http" | "https") => Ok(Self::Sse(Origin::parse(url, "http", "https")?)),
            Some("socketio" | "socketios") => {
                let (base, event) = url.split_once('#').unwrap_or((url, "*"));
                let event = match event {
                    "" | "*" => None,
                    name => Some(name.to_owned()),
                };
                let mut origin = Origin::parse(base, "socketio", "socketios")?;
                url.clone_into(&mut origin.url);
                Ok(Self::SocketIo { origin, event })
            }
            _ => Err(NetError::BadUrl {
                url: url.to_owned(),
                reason: "--push takes ws://, wss://, sse+http://, sse+https://, \
                         socketio:// or socketios://"
                    .to_owned(),
            }),
        }
    }

    pub fn protocol(&self) -> FeedProtocol {
        match self {
            Self::Ws(_) => FeedProtocol::Ws,
            Self::Sse(_) => FeedProtocol::Sse,
            Self::SocketIo { .. } => FeedProtocol::SocketIo,
        }
    }

    pub fn origin(&self) -> &Origin {
        match self {
            Self::Ws(origin) | Self::Sse(origin) | Self::SocketIo { origin, .. } => origin,
        }
    }
}

/// Runs the push lane until its sink refuses an event, reconnecting like
/// every streaming lane ([`resume`](super::resume)).
pub async fn run_feed<S: Sink<LaneEvent>>(
    kind: LaneKind,
    config: Arc<WatchConfig>,
    nodes: Nodes,
    traffic: Arc<Traffic>,
    sink: S,
) {
    let Some(feed) = config.push.clone() else {
        return;
    };
    match feed {
        Feed::Ws(origin) => {
            let session = ws::WsFeed { config, origin };
            resume::run(kind, nodes, 0, traffic, sink, session).await;
        }
        Feed::Sse(origin) => {
            let session = sse::SseFeed {
                config,
                origin,
                last_event_id: None,
            };
            resume::run(kind, nodes, 0, traffic, sink, session).await;
        }
        Feed::SocketIo { origin, event } => {
            let session = socketio::SocketIoFeed {
                config,
                origin,
                event,
                eio: None,
            };
            resume::run(kind, nodes, 0, traffic, sink, session).await;
        }
    }
}

/// Parses `-H 'Name: value'`.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected 'Name: value'"))?;
    let name = HeaderName::try_from(name.trim()).map_err(|e| format!("{name:?}: {e}"))?;
    let value = HeaderValue::try_from(value.trim()).map_err(|e| format!("{value:?}: {e}"))?;
    Ok((name, value))
}

/// Parses `--emit EVENT[=JSON]`. Without JSON the argument is `null`: many
/// handlers (Flask-SocketIO's among them) fail on an event with no argument.
pub fn parse_emit(text: &str) -> Result<(String, serde_json::Value), String> {
    match text.split_once('=') {
        None => Ok((text.to_owned(), serde_json::Value::Null)),
        Some((name, json)) => serde_json::from_str(json)
            .map(|value| (name.to_owned(), value))
            .map_err(|e| format!("{json:?} is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_scheme_picks_the_protocol() {
        let feed = Feed::parse("socketio://127.0.0.1:5001/#species").expect("valid");
        let Feed::SocketIo { origin, event } = &feed else {
            panic!("{feed:?}")
        };
        assert_eq!((origin.port, event.as_deref()), (5001, Some("species")));
        assert!(!origin.tls);
        assert!(matches!(
            Feed::parse("socketios://h/#*"),
            Ok(Feed::SocketIo { event: None, .. })
        ));
        let sse = Feed::parse("sse+https://h/events").expect("valid");
        assert!(matches!(&sse, Feed::Sse(o) if o.tls && o.path == "/events"));
        assert!(matches!(Feed::parse("wss://h:9/x"), Ok(Feed::Ws(o)) if o.tls && o.port == 9));
        let wrong = Feed::parse("ftp://h/")
            .expect_err("wrong scheme")
            .to_string();
        assert!(
            wrong.contains("socketio://") && !wrong.contains('\n'),
            "{wrong}"
        );
    }

    #[test]
    fn headers_and_emits_parse() {
        let (name, value) = parse_header("Authorization: Bearer x").expect("valid");
        assert_eq!(
            (name.as_str(), value.to_str().ok()),
            ("authorization", Some("Bearer x"))
        );
        assert!(parse_header("no colon").is_err());
        assert_eq!(
            parse_emit("hi!"),
            Ok(("hi!".to_owned(), serde_json::Value::Null))
        );
        assert_eq!(
            parse_emit("join={\"room\":1}"),
            Ok(("join".to_owned(), serde_json::json!({"room": 1})))
        );
        assert!(parse_emit("x={").is_err());
    }
}
