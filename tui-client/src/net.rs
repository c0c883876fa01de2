//! The producers that talk to the server: one task per lane (poll, long-poll,
//! SSE, WebSocket) and a `/stats` watcher, each sending [`Event`]s and never
//! touching state.
//!
//! The TUI and the headless run start the same [`Producers`]; they only differ
//! in what consumes the events. The load mode runs thousands of the same lanes
//! ([`run_lane`]), each reporting to a lighter [`Sink`] than the event channel.

pub mod control;
pub mod counting;
mod endpoints;
mod http;
pub mod link;
pub mod longpoll;
pub mod origin;
pub mod poll;
pub mod profile;
pub mod resume;
pub mod socketio;
pub mod source;
pub mod sse;
pub mod tls;
pub mod watch;
pub mod ws;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;
use tokio::sync::watch::{self as settings_channel, Receiver};
use tokio::task::JoinHandle;

use crate::app::nodes;
use crate::app::settings::PollSettings;
use crate::event::{Event, LaneEvent};
use crate::lane::{LaneKind, Lanes};
use counting::Traffic;
pub use endpoints::{Endpoints, Nodes};
pub use http::HttpChoice;

/// Where a producer hands what it observed: the TUI's event channel, or a load
/// client's shared counters.
pub trait Sink<T>: Send + 'static {
    /// Takes one observation; false when the consumer is gone and the producer should stop.
    fn deliver(&mut self, item: T) -> impl Future<Output = bool> + Send;
}

impl<T: Into<Event> + Send + 'static> Sink<T> for mpsc::Sender<Event> {
    async fn deliver(&mut self, item: T) -> bool {
        self.send(item.into()).await.is_ok()
    }
}

/// Why a request or a connection failed, as a pane shows it.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("bad URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("--ws-url names one WebSocket URL, but --server names {0} nodes: drop --ws-url")]
    WsUrlWithNodes(usize),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The remedy first: a pane shows the start of the line.
    #[error(
        "no WebSocket over HTTP/2 here (RFC 8441): run the ws lane with --http 1.1 · \
         {node} sent no SETTINGS_ENABLE_CONNECT_PROTOCOL · {answer}"
    )]
    NoWebSocketOverH2 { node: String, answer: String },
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect to {to}: {error}")]
    Connect { to: String, error: std::io::Error },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "{0} answers, but is not a pollpush server (no /stats): to watch any service, \
         use --poll URL and/or --push URL instead of --server"
    )]
    NotPollpush(String),
    /// A status other than 2xx or 304, with its status line.
    #[error("HTTP {0}")]
    Status(String),
}

/// Exponential backoff with jitter, capped: 250 ms, 500 ms, 1 s … 10 s, each ×0.5–1.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    const BASE: Duration = Duration::from_millis(250);
    const CAP: Duration = Duration::from_secs(10);

    pub fn next_delay(&mut self) -> Duration {
        let exp = Self::BASE
            .saturating_mul(1 << self.attempt.min(16))
            .min(Self::CAP);
        self.attempt = self.attempt.saturating_add(1);
        exp.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// How often producers tick and `/stats` is read.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub tick: Duration,
    /// `Duration::ZERO` starts no `/stats` watcher (its requests would add to the
    /// server's REST counters, which a byte-exact comparison wants to avoid).
    pub stats: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(100),
            stats: Duration::from_secs(1),
        }
    }
}

/// The running producer tasks; dropping this stops them.
#[derive(Debug)]
pub struct Producers {
    tasks: Vec<JoinHandle<()>>,
    poll_settings: settings_channel::Sender<PollSettings>,
}

impl Producers {
    /// Starts a task per lane (request lanes on the first node, streaming
    /// lanes on the second when there is one), the `/stats` watcher and the ticker.
    pub fn spawn(
        nodes: &Nodes,
        lanes: &Lanes,
        settings: PollSettings,
        cadence: Cadence,
        events: &mpsc::Sender<Event>,
        watched: Option<&Arc<watch::WatchConfig>>,
    ) -> Self {
        let (poll_settings, settings_rx) = settings_channel::channel(settings);
        let mut tasks: Vec<JoinHandle<()>> = lanes
            .kinds
            .iter()
            .map(|&kind| {
                let config = LaneConfig {
                    nodes: nodes.with_own_sessions(),
                    node: nodes::start(kind, nodes.len()),
                    poll: settings_rx.clone(),
                    long_poll_wait: lanes.long_poll_wait,
                    watch: watched.cloned(),
                };
                let traffic = Arc::new(Traffic::default());
                tokio::spawn(run_lane(kind, config, traffic, events.clone()))
            })
            .collect();
        tasks.push(tokio::spawn(tick(cadence.tick, events.clone())));
        // A watched service has no /stats.
        if !cadence.stats.is_zero() && watched.is_none() {
            tasks.push(tokio::spawn(control::watch_stats(
                nodes.clone(),
                cadence.stats,
                events.clone(),
            )));
        }
        Self {
            tasks,
            poll_settings,
        }
    }

    /// Hands new settings to the poller; it adopts them without waiting for its next poll.
    pub fn apply(&self, settings: PollSettings) {
        self.poll_settings.send_replace(settings);
    }
}

impl Drop for Producers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a lane's task needs besides its sink and byte counter.
#[derive(Debug, Clone)]
pub struct LaneConfig {
    pub nodes: Nodes,
    /// The node it starts on (request lanes stay there).
    pub node: usize,
    /// The poll lane's live settings.
    pub poll: Receiver<PollSettings>,
    pub long_poll_wait: Duration,
    /// The watched service's URLs and options (`--poll`, `--push`).
    pub watch: Option<Arc<watch::WatchConfig>>,
}

/// Runs lane `kind` until its sink refuses an event: the one place that maps a
/// lane to its producer.
pub async fn run_lane<S: Sink<LaneEvent>>(
    kind: LaneKind,
    config: LaneConfig,
    traffic: Arc<Traffic>,
    sink: S,
) {
    let LaneConfig {
        nodes,
        node,
        poll,
        long_poll_wait,
        watch,
    } = config;
    match (kind, watch) {
        (LaneKind::UrlPoll, Some(config)) => watch::poll::run(config, poll, traffic, sink).await,
        (LaneKind::Feed(_), Some(config)) => {
            watch::run_feed(kind, config, nodes, traffic, sink).await;
        }
        (kind, _) => run_server_lane(kind, nodes, node, poll, long_poll_wait, traffic, sink).await,
    }
}

/// The lanes of a pollpush server.
async fn run_server_lane<S: Sink<LaneEvent>>(
    kind: LaneKind,
    nodes: Nodes,
    node: usize,
    poll: Receiver<PollSettings>,
    long_poll_wait: Duration,
    traffic: Arc<Traffic>,
    sink: S,
) {
    match kind {
        LaneKind::Poll => poll::run(nodes.get(node).clone(), poll, traffic, sink).await,
        LaneKind::LongPoll => {
            longpoll::run(nodes.get(node).clone(), long_poll_wait, traffic, sink).await;
        }
        LaneKind::Sse => resume::run(kind, nodes, node, traffic, sink, sse::Sse).await,
        LaneKind::Ws => resume::run(kind, nodes, node, traffic, sink, ws::Ws).await,
        LaneKind::SocketIo => {
            resume::run(kind, nodes, node, traffic, sink, socketio::SocketIo).await;
        }
        // A watch lane without its configuration has nothing to watch.
        LaneKind::UrlPoll | LaneKind::Feed(_) => {}
    }
}

/// Sends a [`Event::Tick`] every `period` so time-based state moves without traffic.
async fn tick(period: Duration, events: mpsc::Sender<Event>) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let at = pollpush_shared::time::now();
        if events.send(Event::Tick { at }).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(125) && first <= Duration::from_millis(250));
        for _ in 0..20 {
            assert!(b.next_delay() <= Backoff::CAP);
        }
        assert!(b.next_delay() >= Backoff::CAP / 2);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(250));
    }
}
