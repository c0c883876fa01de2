//! The body of `GET /stats`: what the server counted on its own sockets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Server-side counters, exact, as of the moment of the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    pub server: String,
    pub uptime_s: f64,
    pub revision: u64,
    pub changes_applied: u64,
    pub rest: RestStats,
    pub ws: WsStats,
    /// Absent from servers older than the socket.io adapter.
    #[serde(default)]
    pub socketio: SocketIoStats,
    /// Held `GET /species` requests (`Prefer: wait`); absent from older servers.
    #[serde(default)]
    pub longpoll: LongPollStats,
    /// `GET /species/events` streams; absent from older servers.
    #[serde(default)]
    pub sse: SseStats,
    pub process: ProcessStats,
    /// TLS handshakes served (all zero on a cleartext server); absent from older servers.
    #[serde(default)]
    pub tls: TlsStats,
    /// Connections and socket bytes by HTTP version and by TLS; absent from older servers.
    #[serde(default)]
    pub transport: TransportStats,
    /// Where the server's memory is, by what fills it; absent from older servers.
    #[serde(default)]
    pub memory: MemoryStats,
    /// This node's id (`--node-id`, default `host:port`); absent from servers
    /// older than clustering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Every live node of the cluster, from the broker's heartbeats; absent
    /// when the node runs without a broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStats>,
    /// This node's link to the broker; absent when the node runs without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerStats>,
    /// Every upstream feed (`--feed`), by name; empty without feeds, absent
    /// from servers older than the gateway.
    #[serde(default)]
    pub feeds: Vec<crate::feed::FeedStats>,
}

/// This node's link to the cluster's broker (Redis).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerStats {
    /// Subscribed to the broker right now.
    pub connected: bool,
    /// Changes and room broadcasts this node could not hand to the broker
    /// (Redis away or slow); other nodes catch up on the changes through
    /// their position check, room broadcasts are lost.
    pub dropped_publishes: u64,
}

/// The nodes sharing one store and broker, as the broker's heartbeats last reported them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterStats {
    /// Live nodes (heartbeat not expired), sorted by id.
    pub nodes: Vec<NodeStats>,
    /// Sums over `nodes`.
    pub totals: ClusterTotals,
}

/// One node's heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub id: String,
    /// The address it listens on.
    pub addr: String,
    /// The last revision it delivered to its subscribers.
    pub revision: u64,
    /// Open connections of every protocol.
    pub connections: u64,
    /// Push subscribers of every protocol.
    pub subscribers: u64,
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Sums over every live node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterTotals {
    pub nodes: u64,
    pub connections: u64,
    pub subscribers: u64,
    pub rss_bytes: u64,
}

/// HTTP traffic other than WebSocket connections, counted on the socket (headers included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestStats {
    pub requests: u64,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, u64>,
    pub not_modified: u64,
    pub connections: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// WebSocket traffic, counted on the socket (framing and the `101` answer included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WsStats {
    pub connections: u64,
    pub connections_total: u64,
    pub subscribers: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Subscribers that fell a feed capacity behind (1,024 changes by default):
    /// their backlog was dropped and they get `resync` and a snapshot when they
    /// read again. Counted when they fall behind.
    pub resyncs: u64,
    pub throttled: u64,
}

/// Socket.IO traffic (`/socket.io/`, polling and WebSocket transports), counted on the socket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketIoStats {
    /// Connected socket.io clients (one may use several HTTP connections while polling).
    pub sockets: u64,
    /// Open HTTP/WebSocket connections carrying socket.io.
    pub connections: u64,
    pub connections_total: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Long-polling: `GET /species` with `If-None-Match` and `Prefer: wait=N`,
/// counted on the socket (a connection counts as long-poll from its first held request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LongPollStats {
    pub connections: u64,
    pub connections_total: u64,
    /// Requests answered on long-poll connections (held or not).
    pub requests: u64,
    /// Requests held right now.
    pub held: u64,
    /// Held requests answered `200` because the list changed.
    pub changed: u64,
    /// Held requests answered `304` when their wait ran out.
    pub timed_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Server-Sent Events on `GET /species/events`, counted on the socket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SseStats {
    pub connections: u64,
    pub connections_total: u64,
    /// Streams open right now.
    pub subscribers: u64,
    /// Events sent (snapshots, changes, resyncs; not keep-alive comments).
    pub messages_out: u64,
    pub resyncs: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The server process's own cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    /// User plus system CPU time since start.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// `accept()` calls that failed for want of a file descriptor; absent from older servers.
    #[serde(default)]
    pub accept_failures: u64,
    /// New connections closed at accept because the node had no descriptor left.
    #[serde(default)]
    pub shed_at_accept: u64,
    /// Out of file descriptors now (since the last failed accept, until one succeeds).
    #[serde(default)]
    pub saturated: bool,
}

/// The server's memory by what fills it: each of these has a bound (see
/// docs/server.md), so a leak shows up here as a number that keeps growing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Resident set size, as the kernel counts it.
    pub rss_bytes: u64,
    /// The allocator in use (`jemalloc`, or `system`).
    pub allocator: String,
    /// Bytes the program holds in live allocations, in the allocator's view
    /// (absent where the allocator has none to give).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_allocated_bytes: Option<u64>,
    /// Bytes the allocator holds in pages it mapped for them (live, free and
    /// not yet returned), absent where the allocator has no such view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_resident_bytes: Option<u64>,
    /// Recent changes kept encoded for resubscribes and gap fills.
    pub ring_changes: u64,
    pub ring_bytes: u64,
    /// Replays in flight (`since` resubscribes being written) and the change
    /// frames and bytes their chunks hold right now.
    pub replays: u64,
    pub replay_frames: u64,
    pub replay_bytes: u64,
    /// Replays started since the server started.
    pub replays_started: u64,
    /// Store history reads in flight.
    pub history_reads: u64,
    /// Bytes queued for push subscribers that their sockets did not take yet.
    pub backlog_bytes: u64,
    /// Subscriptions that take changes from a queue of their own (SSE
    /// streams, `/ws` over HTTP/2, socket.io), the changes waiting in those
    /// queues (references to shared frames, each queue bounded by the feed
    /// capacity), and the queues whose reader fell a capacity behind: they
    /// take no more changes and are resynced when the reader comes back.
    #[serde(default)]
    pub queues: u64,
    #[serde(default)]
    pub queued_changes: u64,
    #[serde(default)]
    pub queues_lagged: u64,
}

/// Every connection's socket bytes (TLS records and h2 framing included),
/// split two ways: by HTTP version and by TLS. Each split sums to the
/// protocols' totals (`rest` + `ws` + `socketio` + `longpoll` + `sse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportStats {
    /// HTTP/1.1, with the WebSockets and socket.io it upgraded to.
    pub h1: LinkStats,
    /// HTTP/2 (ALPN `h2`, or h2c from the connection's first request).
    pub h2: LinkStats,
    pub plaintext: LinkStats,
    pub tls: LinkStats,
}

/// Connections and bytes of one kind of link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    /// Open now.
    pub connections: u64,
    /// Accepted since start.
    pub connections_total: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// TLS connections the server accepted itself (`--tls-cert` or `--tls-self-signed`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsStats {
    /// Handshakes with a full key exchange.
    pub handshakes_full: u64,
    /// Handshakes that resumed a session (a ticket or the session cache).
    pub handshakes_resumed: u64,
    /// Handshakes that failed or never finished within the header deadline.
    pub handshakes_failed: u64,
    /// Completed handshakes by protocol version.
    pub tls13: u64,
    pub tls12: u64,
    /// Connections where ALPN chose HTTP/2.
    pub alpn_h2: u64,
    /// Bytes of the handshakes themselves (also in each protocol's bytes).
    pub handshake_bytes_in: u64,
    pub handshake_bytes_out: u64,
}
