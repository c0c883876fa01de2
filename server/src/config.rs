//! Server settings, filled by the binary's CLI or by an embedding program.

use std::path::PathBuf;
use std::time::Duration;

/// Everything `run` needs besides a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite file, `:memory:`, or a `postgres://` URL (shared by a cluster).
    pub db: String,
    /// Serve HTTPS (and HTTP/2 by ALPN) with this; `None` for cleartext
    /// (HTTP/1.1, and h2c with prior knowledge). See `tls.rs`.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// `redis://host:port`: the broker that carries changes and room
    /// broadcasts between the nodes of a cluster.
    pub broker: Option<String>,
    /// Prefix of the broker's channels and keys (one per cluster).
    pub broker_prefix: String,
    /// This node's id in the cluster view (default `hostname:port`).
    pub node_id: Option<String>,
    /// The address other nodes and clients reach this one at (default: the listener's).
    pub advertise: Option<String>,
    /// How often a node on a shared store compares its revision with the store's.
    pub position_interval: Duration,
    /// Long-poll requests held at once; more get `503` with `Retry-After`.
    pub max_held: usize,
    /// SSE streams open at once; more get `503` with `Retry-After`.
    pub max_streams: usize,
    /// Origins allowed to read the REST API from a browser; empty means any.
    pub cors_origins: Vec<String>,
    /// Origins allowed to open `/ws` from a browser; empty means any.
    pub allowed_origins: Vec<String>,
    /// Simulated changes per second (0: none).
    pub simulate: f64,
    /// Seed for the simulator, for reproducible runs.
    pub seed: Option<u64>,
    /// WebSocket session limits.
    pub ws: WsConfig,
    /// A folder of the user's own pages served at `/`.
    pub static_dir: Option<PathBuf>,
    /// `SO_SNDBUF` of each push connection (`/ws`, SSE, socket.io), set when it
    /// starts speaking push. Without a cap the kernel autotunes it up to
    /// `net.ipv4.tcp_wmem`'s maximum (MiBs) for a client that stops reading,
    /// and the server's own bounded queue and resync never start. `None`
    /// leaves the kernel's autotuning; REST connections always keep it, so
    /// bulk responses are unaffected. Linux doubles the value for its bookkeeping.
    pub send_buffer_bytes: Option<usize>,
    /// Limits of plain HTTP connections: header size, header and idle deadlines.
    pub http: HttpConfig,
    /// When set, writes (`POST`, `PUT`, `DELETE`, `/ws` and socket.io
    /// `broadcast`) need this bearer token; reads and subscriptions stay open.
    pub write_token: Option<String>,
    /// Upstream REST APIs this node polls and pushes (`--feed NAME=URL`).
    pub feeds: Vec<crate::gateway::FeedSpec>,
    /// How those feeds are polled.
    pub gateway: crate::gateway::GatewayConfig,
}

/// Limits of an HTTP connection before it upgrades, if it ever does.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request header section (request line and headers); a larger
    /// one is answered `431` and the connection closed. At least 8 KiB.
    pub max_header_bytes: usize,
    /// A request's whole header section must arrive within this, counted
    /// from its first byte (or from the accept, for the first request).
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight and no byte moving
    /// for this long is closed. Held long-polls and upgraded streams are not idle.
    pub idle_timeout: Duration,
    /// HTTP/2 streams one connection may have open at once (SSE streams,
    /// held long-polls, requests): more are refused by the protocol itself.
    pub max_streams_per_connection: u32,
}

/// The default `send_buffer_bytes`: enough for a fast client on a LAN, little
/// enough that a stalled one fills it after a few hundred changes.
pub const DEFAULT_PUSH_SEND_BUFFER: usize = 64 * 1024;

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_mins(1),
            max_streams_per_connection: 100,
        }
    }
}

/// Limits of one WebSocket session.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Messages a client may send per second before it is throttled.
    pub max_messages_per_sec: u32,
    /// Largest message or frame a client may send (larger: close 1009).
    pub max_message_bytes: usize,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A client silent for this long is dropped.
    pub idle_timeout: Duration,
    /// Changes a subscriber may fall behind before it is resynchronized.
    pub feed_capacity: usize,
    /// Room events queued for one client before it misses some.
    pub outbox_capacity: usize,
    /// How long one write to a client may take before it is dropped.
    pub write_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_messages_per_sec: 100,
            max_message_bytes: 64 * 1024,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            feed_capacity: 1024,
            outbox_capacity: 256,
            write_timeout: Duration::from_secs(45),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db: ":memory:".to_owned(),
            broker: None,
            broker_prefix: "pollpush:".to_owned(),
            node_id: None,
            advertise: None,
            position_interval: Duration::from_secs(1),
            max_held: 20_000,
            max_streams: 20_000,
            cors_origins: Vec::new(),
            allowed_origins: Vec::new(),
            simulate: 0.0,
            seed: None,
            ws: WsConfig::default(),
            static_dir: None,
            send_buffer_bytes: Some(DEFAULT_PUSH_SEND_BUFFER),
            http: HttpConfig::default(),
            write_token: None,
            tls: None,
            feeds: Vec::new(),
            gateway: crate::gateway::GatewayConfig::default(),
        }
    }
}
