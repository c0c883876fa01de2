//! Server settings, filled by the binary's CLI or by an embedding program.

use std::path::PathBuf;
use std::time::Duration;

/// Everything `run` needs besides a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite file, `:memory:`, or a `postgres://` URL (shared by a cluster).
    pub db: String,
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
    /// Caps the kernel send buffer of each connection (default: the kernel's
    /// autotuning, up to `net.ipv4.tcp_wmem`'s maximum). A small cap bounds
    /// what a stalled client can hold in the kernel.
    pub send_buffer_bytes: Option<usize>,
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
            send_buffer_bytes: None,
        }
    }
}
