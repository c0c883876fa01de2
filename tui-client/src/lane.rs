//! The lanes: the ways a client can learn about a change. Everything that
//! differs between them is answered here, by kind, so the state and its
//! `update` treat every lane alike and a new lane is a new variant.

use std::time::Duration;

/// One way to learn about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LaneKind {
    /// `GET /species` on a timer (the REST pane).
    Poll,
    /// `GET /species` held by the server until the list changes.
    LongPoll,
    /// Server-Sent Events from `/species/events`.
    Sse,
    /// WebSocket push from `/ws`.
    Ws,
    /// socket.io push from `/socket.io/` (the talk's second page).
    SocketIo,
    /// `GET` on a timer of any URL (`--poll`).
    UrlPoll,
    /// Any push feed (`--push`), by its protocol.
    Feed(FeedProtocol),
}

/// The protocol of a `--push` feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedProtocol {
    Ws,
    Sse,
    SocketIo,
}

/// How a lane's exchanges are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// HTTP requests answered (200 and 304).
    Requests,
    /// Messages (WebSocket frames, SSE events) received.
    Messages,
}

impl LaneKind {
    /// Every lane, in the order panes and reports show them.
    pub const ALL: [Self; 4] = [Self::Poll, Self::LongPoll, Self::Sse, Self::Ws];
    /// Every lane `--lanes` can name: `all`'s four, and socket.io.
    pub const NAMED: [Self; 5] = [
        Self::Poll,
        Self::LongPoll,
        Self::Sse,
        Self::Ws,
        Self::SocketIo,
    ];
    /// The talk's two panes.
    pub const DEFAULT: [Self; 2] = [Self::Poll, Self::Ws];

    /// The name `--lanes` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::LongPoll => "longpoll",
            Self::Sse => "sse",
            Self::Ws => "ws",
            Self::SocketIo => "socketio",
            Self::UrlPoll => "poll-url",
            Self::Feed(_) => "push",
        }
    }

    /// The lane `--lanes` names `name`, if any.
    pub fn named(name: &str) -> Option<Self> {
        Self::NAMED.into_iter().find(|k| k.name() == name)
    }

    /// The key of the lane's section in reports (`rest` for polling, as before lanes).
    pub fn report_key(self) -> &'static str {
        match self {
            Self::Poll => "rest",
            other => other.name(),
        }
    }

    /// How a pane's title and a chart's legend name it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Poll => "REST polling",
            Self::LongPoll => "long-polling",
            Self::Sse => "Server-Sent Events",
            Self::Ws => "WebSocket push",
            Self::SocketIo => "socket.io push",
            Self::UrlPoll => "polling",
            Self::Feed(FeedProtocol::Ws) => "WebSocket feed",
            Self::Feed(FeedProtocol::Sse) => "SSE feed",
            Self::Feed(FeedProtocol::SocketIo) => "socket.io feed",
        }
    }

    /// A short label for tight spaces (the scoreboard, the header).
    pub fn short(self) -> &'static str {
        match self {
            Self::Poll | Self::UrlPoll => "poll",
            Self::LongPoll => "long-poll",
            Self::Sse | Self::Feed(FeedProtocol::Sse) => "SSE",
            Self::Ws | Self::Feed(FeedProtocol::Ws) => "WebSocket",
            Self::SocketIo | Self::Feed(FeedProtocol::SocketIo) => "socket.io",
        }
    }

    pub fn exchange(self) -> Exchange {
        match self {
            Self::Poll | Self::LongPoll | Self::UrlPoll => Exchange::Requests,
            Self::Sse | Self::Ws | Self::SocketIo | Self::Feed(_) => Exchange::Messages,
        }
    }

    /// Whether the lane watches a service that is not a pollpush server, so
    /// it shows payloads rather than species and revisions.
    pub fn watched(self) -> bool {
        matches!(self, Self::UrlPoll | Self::Feed(_))
    }

    /// Whether the lane holds a connection that resumes (and fails over) after a loss.
    pub fn streaming(self) -> bool {
        self.exchange() == Exchange::Messages
    }
}

/// Which lanes run, and what the long-poll lane asks the server to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lanes {
    pub kinds: Vec<LaneKind>,
    /// `Prefer: wait=N`: how long the server may hold a long-poll.
    pub long_poll_wait: Duration,
}

/// The longest wait the server honours.
pub const MAX_LONG_POLL_WAIT: Duration = Duration::from_mins(1);

impl Default for Lanes {
    fn default() -> Self {
        Self {
            kinds: LaneKind::DEFAULT.to_vec(),
            long_poll_wait: Duration::from_secs(30),
        }
    }
}

impl Lanes {
    /// Parses `--lanes`: `all`, or names separated by commas, each once, kept in
    /// the canonical order so the screen does not depend on how they were typed.
    pub fn parse_kinds(text: &str) -> Result<Vec<LaneKind>, String> {
        if text.trim() == "all" {
            return Ok(LaneKind::ALL.to_vec());
        }
        let mut kinds = Vec::new();
        for name in text.split(',').map(str::trim) {
            let kind = LaneKind::named(name).ok_or_else(|| {
                format!(
                    "unknown lane {name:?}: choose from poll, longpoll, sse, ws, socketio, or all"
                )
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds.sort();
        Ok(kinds)
    }

    pub fn has(&self, kind: LaneKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// One value per lane, in lane order; reports serialize it as a map keyed by
/// [`LaneKind::report_key`], so each lane is a section of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneMap<T>(pub Vec<(LaneKind, T)>);

impl<T> LaneMap<T> {
    /// The value of the lane whose report key is `key` (`rest`, `longpoll`, `sse`, `ws`).
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0
            .iter()
            .find(|(kind, _)| kind.report_key() == key)
            .map(|(_, value)| value)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|(_, value)| value)
    }
}

impl<T> Default for LaneMap<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: serde::Serialize> serde::Serialize for LaneMap<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (kind, value) in &self.0 {
            map.serialize_entry(kind.report_key(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_parse_by_name_or_all_in_canonical_order() {
        assert_eq!(Lanes::parse_kinds("all"), Ok(LaneKind::ALL.to_vec()));
        assert_eq!(
            Lanes::parse_kinds("ws, poll,ws"),
            Ok(vec![LaneKind::Poll, LaneKind::Ws])
        );
        let error = Lanes::parse_kinds("poll,rest").expect_err("no such lane");
        assert!(
            error.contains("\"rest\"") && error.contains("longpoll"),
            "{error}"
        );
        assert!(Lanes::parse_kinds("").is_err());
        assert_eq!(
            Lanes::parse_kinds("socketio,sse"),
            Ok(vec![LaneKind::Sse, LaneKind::SocketIo]),
            "socket.io is named, not part of all"
        );
    }

    #[test]
    fn the_poll_lane_keeps_its_report_key() {
        let keys: Vec<&str> = LaneKind::ALL.iter().map(|k| k.report_key()).collect();
        assert_eq!(keys, ["rest", "longpoll", "sse", "ws"]);
    }
}
