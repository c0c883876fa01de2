//! Wire types spoken by the pollpush server and its clients.
//!
//! One source of truth for every JSON shape: the server serializes these, the
//! client deserializes them, and the OpenAPI document is generated from them.

pub mod counting;
pub mod feed;
pub mod message;
pub mod problem;
pub mod species;
pub mod stats;
pub mod time;

pub use feed::{FeedChange, FeedMessage, FeedOp, FeedStats};
pub use message::{Change, ChangeOp, ClientMessage, PROTOCOL_VERSION, ServerInfo, ServerMessage};
pub use problem::Problem;
pub use species::{NewSpecies, Revision, Species, SpeciesId, UpdateSpecies, ValidationError};
pub use stats::{
    BrokerStats, ClusterStats, ClusterTotals, LinkStats, LongPollStats, MemoryStats, NodeStats,
    ProcessStats, RestStats, ServerStats, SocketIoStats, SseStats, TlsStats, TransportStats,
    WsStats,
};
