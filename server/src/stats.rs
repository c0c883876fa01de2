//! Counters the server keeps about its own traffic and cost.
//!
//! Bytes are counted on the socket itself (see [`crate::wire::Wire`]), so they
//! include HTTP headers and WebSocket framing: the numbers a network would see.
//! Each connection starts as REST and flips to WebSocket when it upgrades.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

mod saturation;
mod tls;
mod transport;
pub use saturation::Saturation;

pub use tls::TlsCounters;

use pollpush_shared::counting::ByteCounter;
use pollpush_shared::{
    LongPollStats, ProcessStats, RestStats, ServerStats, SocketIoStats, SseStats, WsStats,
};

/// Bytes and messages of one protocol.
#[derive(Debug, Default)]
pub struct Traffic {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
}

/// Every counter of the server, shared by all connections.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    pub rest: Traffic,
    pub ws: Traffic,
    pub socketio: Traffic,
    pub longpoll: Traffic,
    pub sse: Traffic,
    pub rest_requests: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
    pub ws_messages_in: AtomicU64,
    pub ws_messages_out: AtomicU64,
    pub ws_subscribers: AtomicU64,
    pub resyncs: AtomicU64,
    /// Bytes queued for push subscribers that their sockets did not take yet.
    pub backlog_bytes: AtomicU64,
    pub tls: TlsCounters,
    /// accept() out of file descriptors.
    pub saturation: Saturation,
    /// Connections speaking HTTP/2; HTTP/1.1 is every other one (see `transport.rs`).
    pub h2: Traffic,
    pub throttled: AtomicU64,
    pub socketio_sockets: AtomicU64,
    pub socketio_messages_in: AtomicU64,
    pub socketio_messages_out: AtomicU64,
    pub longpoll_requests: AtomicU64,
    pub longpoll_held: AtomicU64,
    pub longpoll_changed: AtomicU64,
    pub longpoll_timed_out: AtomicU64,
    pub sse_subscribers: AtomicU64,
    pub sse_messages_out: AtomicU64,
    pub sse_resyncs: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            rest: Traffic::default(),
            ws: Traffic::default(),
            socketio: Traffic::default(),
            longpoll: Traffic::default(),
            sse: Traffic::default(),
            rest_requests: AtomicU64::new(0),
            by_status: Mutex::new(BTreeMap::new()),
            ws_messages_in: AtomicU64::new(0),
            ws_messages_out: AtomicU64::new(0),
            ws_subscribers: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            backlog_bytes: AtomicU64::new(0),
            tls: TlsCounters::default(),
            saturation: Saturation::default(),
            h2: Traffic::default(),
            throttled: AtomicU64::new(0),
            socketio_sockets: AtomicU64::new(0),
            socketio_messages_in: AtomicU64::new(0),
            socketio_messages_out: AtomicU64::new(0),
            longpoll_requests: AtomicU64::new(0),
            longpoll_held: AtomicU64::new(0),
            longpoll_changed: AtomicU64::new(0),
            longpoll_timed_out: AtomicU64::new(0),
            sse_subscribers: AtomicU64::new(0),
            sse_messages_out: AtomicU64::new(0),
            sse_resyncs: AtomicU64::new(0),
        }
    }
}

impl Stats {
    /// Seconds since the server started.
    pub fn uptime_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Counts one answered HTTP request (not WebSocket upgrades).
    pub fn record_response(&self, status: u16) {
        self.rest_requests.fetch_add(1, Relaxed);
        let mut map = self
            .by_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(status).or_default() += 1;
    }

    /// A consistent-enough copy of every counter, with the process's own cost.
    pub fn snapshot(&self, server: &str, revision: u64) -> ServerStats {
        let by_status = self
            .by_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        ServerStats {
            server: server.to_owned(),
            uptime_s: self.uptime_s(),
            revision,
            // Filled in by the caller, which knows the store.
            changes_applied: 0,
            rest: RestStats {
                requests: self.rest_requests.load(Relaxed),
                not_modified: by_status.get(&304).copied().unwrap_or(0),
                by_status,
                connections: self.rest.connections.load(Relaxed),
                bytes_in: self.rest.bytes_in.load(Relaxed),
                bytes_out: self.rest.bytes_out.load(Relaxed),
            },
            ws: WsStats {
                connections: self.ws.connections.load(Relaxed),
                connections_total: self.ws.connections_total.load(Relaxed),
                subscribers: self.ws_subscribers.load(Relaxed),
                messages_in: self.ws_messages_in.load(Relaxed),
                messages_out: self.ws_messages_out.load(Relaxed),
                bytes_in: self.ws.bytes_in.load(Relaxed),
                bytes_out: self.ws.bytes_out.load(Relaxed),
                resyncs: self.resyncs.load(Relaxed),
                throttled: self.throttled.load(Relaxed),
            },
            socketio: SocketIoStats {
                sockets: self.socketio_sockets.load(Relaxed),
                connections: self.socketio.connections.load(Relaxed),
                connections_total: self.socketio.connections_total.load(Relaxed),
                messages_in: self.socketio_messages_in.load(Relaxed),
                messages_out: self.socketio_messages_out.load(Relaxed),
                bytes_in: self.socketio.bytes_in.load(Relaxed),
                bytes_out: self.socketio.bytes_out.load(Relaxed),
            },
            longpoll: LongPollStats {
                connections: self.longpoll.connections.load(Relaxed),
                connections_total: self.longpoll.connections_total.load(Relaxed),
                requests: self.longpoll_requests.load(Relaxed),
                held: self.longpoll_held.load(Relaxed),
                changed: self.longpoll_changed.load(Relaxed),
                timed_out: self.longpoll_timed_out.load(Relaxed),
                bytes_in: self.longpoll.bytes_in.load(Relaxed),
                bytes_out: self.longpoll.bytes_out.load(Relaxed),
            },
            sse: SseStats {
                connections: self.sse.connections.load(Relaxed),
                connections_total: self.sse.connections_total.load(Relaxed),
                subscribers: self.sse_subscribers.load(Relaxed),
                messages_out: self.sse_messages_out.load(Relaxed),
                resyncs: self.sse_resyncs.load(Relaxed),
                bytes_in: self.sse.bytes_in.load(Relaxed),
                bytes_out: self.sse.bytes_out.load(Relaxed),
            },
            process: ProcessStats {
                accept_failures: self.saturation.failures(),
                shed_at_accept: self.saturation.shed(),
                saturated: self.saturation.is_saturated(),
                ..process_stats()
            },
            tls: self.tls.snapshot(),
            // Filled in by the caller, which knows whether the listener is TLS.
            transport: pollpush_shared::TransportStats::default(),
            // Filled in by the caller, which knows the feed and the source.
            memory: pollpush_shared::MemoryStats::default(),
            node: None,
            cluster: None,
            broker: None,
            feeds: Vec::new(),
        }
    }
}

/// CPU seconds and RSS of this process, from `/proc/self`; zeros where unavailable.
pub fn process_stats() -> ProcessStats {
    let Ok(me) = procfs::process::Process::myself() else {
        return ProcessStats::default();
    };
    let Ok(stat) = me.stat() else {
        return ProcessStats::default();
    };
    let ticks = procfs::ticks_per_second().max(1) as f64;
    ProcessStats {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        rss_bytes: stat.rss * procfs::page_size(),
        ..ProcessStats::default()
    }
}

/// The protocol a connection's bytes are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Protocol {
    Rest = 0,
    WebSocket = 1,
    SocketIo = 2,
    /// Held `GET /species` requests: the connection long-polls from then on.
    LongPoll = 3,
    /// A `GET /species/events` stream.
    Sse = 4,
}

/// Which protocol a connection speaks now; shared between its stream and its handlers.
#[derive(Debug, Clone)]
pub struct ConnTag(Arc<ConnState>);

#[derive(Debug)]
struct ConnState {
    stats: Arc<Stats>,
    kind: AtomicU8,
    /// Bytes read while this connection was REST, and how many of them belong
    /// to requests already answered: the rest is the request being handled,
    /// which moves with the connection if that request switches protocol.
    rest_in: AtomicU64,
    settled_in: AtomicU64,
    /// Everything this connection read and wrote, whatever its protocol:
    /// what the idle watchdog looks at to see whether it moves.
    read: AtomicU64,
    written: AtomicU64,
    /// Speaks HTTP/2: chosen by ALPN, or seen on its first request (h2c).
    h2: AtomicBool,
}

impl ConnTag {
    /// Counts a new connection, as REST until it says otherwise.
    pub fn new(stats: Arc<Stats>) -> Self {
        stats.rest.connections.fetch_add(1, Relaxed);
        stats.rest.connections_total.fetch_add(1, Relaxed);
        Self(Arc::new(ConnState {
            stats,
            kind: AtomicU8::new(Protocol::Rest as u8),
            rest_in: AtomicU64::new(0),
            settled_in: AtomicU64::new(0),
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            h2: AtomicBool::new(false),
        }))
    }

    /// The server's counters this connection adds to.
    pub fn stats(&self) -> &Stats {
        &self.0.stats
    }

    /// From now on this connection's bytes count under `protocol`, starting with
    /// the request that asked for it (the upgrade, or socket.io's first poll).
    /// Only a REST connection changes protocol.
    pub fn mark(&self, protocol: Protocol) {
        if protocol == Protocol::Rest {
            return;
        }
        let rest = Protocol::Rest as u8;
        if self
            .0
            .kind
            .compare_exchange(rest, protocol as u8, Relaxed, Relaxed)
            .is_ok()
        {
            let stats = &self.0.stats;
            let moved = self.0.rest_in.load(Relaxed) - self.0.settled_in.load(Relaxed);
            stats.rest.connections.fetch_sub(1, Relaxed);
            stats.rest.bytes_in.fetch_sub(moved, Relaxed);
            let to = self.traffic();
            to.connections.fetch_add(1, Relaxed);
            to.connections_total.fetch_add(1, Relaxed);
            to.bytes_in.fetch_add(moved, Relaxed);
        }
    }

    /// Bytes this connection has read and written so far.
    pub fn io_totals(&self) -> (u64, u64) {
        (self.0.read.load(Relaxed), self.0.written.load(Relaxed))
    }

    /// Whether this connection speaks HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.0.h2.load(Relaxed)
    }

    /// This connection speaks HTTP/2 (ALPN chose it, or its first request was
    /// h2c): it and its bytes so far count as h2 from now on. Called on the
    /// connection's own task, which also does all its reads and writes, so
    /// no byte falls between the switch and the move.
    pub fn speaks_h2(&self) {
        if self.0.h2.swap(true, Relaxed) {
            return;
        }
        let h2 = &self.0.stats.h2;
        h2.connections.fetch_add(1, Relaxed);
        h2.connections_total.fetch_add(1, Relaxed);
        h2.bytes_in.fetch_add(self.0.read.load(Relaxed), Relaxed);
        h2.bytes_out
            .fetch_add(self.0.written.load(Relaxed), Relaxed);
    }

    /// Whether this connection still speaks plain HTTP to the REST API.
    pub fn is_rest(&self) -> bool {
        self.0.kind.load(Relaxed) == Protocol::Rest as u8
    }

    /// The request being handled was answered in its current protocol.
    pub fn settle(&self) {
        self.0
            .settled_in
            .store(self.0.rest_in.load(Relaxed), Relaxed);
    }

    fn traffic(&self) -> &Traffic {
        match self.0.kind.load(Relaxed) {
            1 => &self.0.stats.ws,
            2 => &self.0.stats.socketio,
            3 => &self.0.stats.longpoll,
            4 => &self.0.stats.sse,
            _ => &self.0.stats.rest,
        }
    }
}

/// The counter a connection's socket reports to; counts the connection's end
/// exactly once, whatever protocol it ended in.
#[derive(Debug)]
pub struct ConnCounter(pub ConnTag);

impl ByteCounter for ConnCounter {
    fn read(&self, n: u64) {
        self.0.0.read.fetch_add(n, Relaxed);
        self.0.traffic().bytes_in.fetch_add(n, Relaxed);
        // HTTP/1.1 is the rest of the totals: its hot path (the fan-out's
        // writes) pays a load of this connection's flag, not a shared counter.
        if self.0.is_h2() {
            self.0.0.stats.h2.bytes_in.fetch_add(n, Relaxed);
        }
        if self.0.is_rest() {
            self.0.0.rest_in.fetch_add(n, Relaxed);
        }
    }

    fn wrote(&self, n: u64) {
        self.0.0.written.fetch_add(n, Relaxed);
        self.0.traffic().bytes_out.fetch_add(n, Relaxed);
        if self.0.is_h2() {
            self.0.0.stats.h2.bytes_out.fetch_add(n, Relaxed);
        }
    }
}

impl Drop for ConnCounter {
    fn drop(&mut self) {
        self.0.traffic().connections.fetch_sub(1, Relaxed);
        if self.0.is_h2() {
            self.0.0.stats.h2.connections.fetch_sub(1, Relaxed);
        }
    }
}
