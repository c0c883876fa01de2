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
    pub process: ProcessStats,
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

/// The server process's own cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    /// User plus system CPU time since start.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}
