//! What every handler and session shares: the node's view of the store, its
//! fan-out, its rooms, its counters and, in a cluster, its broker.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use http::HeaderValue;
use pollpush_shared::{BrokerStats, MemoryStats, NodeStats, Problem, ServerInfo, ServerStats};

use crate::broker::Broker;
use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::source::ChangeSource;
use crate::{feed, rooms, server_name, stats};

/// What every handler and session shares. Clone it freely.
#[derive(Debug, Clone)]
pub struct State(pub(crate) Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// This node's id (`--node-id`, default `host:port`).
    pub node: String,
    pub source: ChangeSource,
    pub feed: feed::ChangeFeed,
    pub stats: Arc<stats::Stats>,
    pub rooms: rooms::Rooms,
    /// The cluster's broker, when the node has one.
    pub broker: Option<Broker>,
    pub(crate) cors_origins: Arc<Vec<String>>,
    pub(crate) allowed_origins: Arc<Vec<String>>,
    /// The store revision when this process opened it.
    pub(crate) start_revision: u64,
    /// Flips to `true` once when the server shuts down.
    pub shutdown: Shutdown,
    /// The upstream feeds this node polls (`--feed`), by name.
    pub feeds: crate::gateway::Feeds,
}

impl Deref for State {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl State {
    pub(crate) fn cors_allows(&self, origin: &HeaderValue) -> bool {
        crate::auth::origin_allowed(&self.cors_origins, origin)
    }

    /// Push clients of either protocol.
    fn push_clients(&self) -> u64 {
        self.stats.ws.connections.load(Relaxed) + self.stats.socketio_sockets.load(Relaxed)
    }

    /// What the `info` event answers, on `/ws` and socket.io alike.
    pub fn server_info(&self) -> ServerInfo {
        let snapshot = self.source.snapshot();
        ServerInfo {
            server: server_name(),
            protocol: pollpush_shared::PROTOCOL_VERSION,
            revision: snapshot.revision,
            species: snapshot.species.len(),
            clients: self.push_clients(),
            uptime_s: self.stats.uptime_s(),
        }
    }

    /// The `/stats` body, now.
    pub fn stats_snapshot(&self) -> ServerStats {
        let mut s = self
            .stats
            .snapshot(&server_name(), self.source.snapshot().revision);
        s.changes_applied = s.revision.saturating_sub(self.start_revision);
        s.transport = self.stats.transport(self.config.tls.is_some());
        s.memory = self.memory(s.process.rss_bytes);
        s.node = Some(self.node.clone());
        s.cluster = self.broker.as_ref().and_then(Broker::cluster);
        s.broker = self.broker.as_ref().map(|b| BrokerStats {
            connected: b.connected(),
            dropped_publishes: b.dropped(),
        });
        s.feeds = self.feeds.stats();
        s
    }

    /// Where the memory is, by what fills it.
    fn memory(&self, rss_bytes: u64) -> MemoryStats {
        let (ring_changes, ring_bytes) = self.source.ring();
        let replays = self.feed.replays();
        let queues = self.feed.queues();
        let heap = crate::memory::heap();
        MemoryStats {
            rss_bytes,
            allocator: crate::memory::ALLOCATOR.to_owned(),
            heap_allocated_bytes: heap.map(|h| h.allocated),
            heap_resident_bytes: heap.map(|h| h.resident),
            ring_changes: ring_changes as u64,
            ring_bytes,
            replays: replays.active,
            replay_frames: replays.frames,
            replay_bytes: replays.bytes,
            replays_started: replays.started,
            history_reads: self.source.history_reads(),
            backlog_bytes: self
                .stats
                .backlog_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
            queues: queues.queues,
            queued_changes: queues.changes,
            queues_lagged: queues.lagged,
        }
    }

    /// This node's heartbeat: what the cluster view shows of it.
    pub fn node_stats(&self) -> NodeStats {
        let s = self.stats.snapshot(&server_name(), 0);
        NodeStats {
            id: self.node.clone(),
            addr: self.config.advertise.clone().unwrap_or_default(),
            revision: self.source.snapshot().revision,
            connections: s.rest.connections + s.ws.connections + s.socketio.connections,
            subscribers: s.ws.subscribers + s.socketio.sockets,
            cpu_seconds: s.process.cpu_seconds,
            rss_bytes: s.process.rss_bytes,
        }
    }

    /// `None` when the node can serve; otherwise what a load balancer is told.
    pub fn unready(&self) -> Option<Problem> {
        let mut down = Vec::new();
        if !self.source.store_up() {
            down.push("store".to_owned());
        }
        if self.broker.as_ref().is_some_and(|b| !b.connected()) {
            down.push("broker".to_owned());
        }
        down.extend(self.feeds.failing());
        let mut detail = (!down.is_empty()).then(|| format!("unreachable: {}", down.join(", ")));
        if self.stats.saturation.is_saturated() {
            let full = "out of file descriptors: new connections are closed at accept";
            detail = Some(detail.map_or_else(|| full.to_owned(), |d| format!("{d}; {full}")));
        }
        detail.map(|detail| Problem::new("not-ready", "Not Ready", 503, detail))
    }
}
