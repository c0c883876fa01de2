//! pollpush-server: the species REST API and WebSocket push over one store.
//!
//! Start it with [`Server::start`] on a listener you bound (port 0 in tests),
//! or with [`run`] until a shutdown future resolves. Every write, from REST or
//! the simulator, goes through the [`store`], which commits it and hands it to
//! the [`feed`], which pushes it to every `/ws` subscriber.

pub mod config;
pub mod error;
pub mod feed;
mod http;
mod metrics;
mod openapi;
mod rest;
mod routes;
pub mod simulator;
mod socketio;
pub mod stats;
pub mod store;
pub mod wire;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use ::http::HeaderValue;
use pollpush_shared::{ServerInfo, ServerStats};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, WsConfig};
pub use error::{ServerError, StoreError};
pub use simulator::SimulatorHandle;

/// `pollpush/VERSION`, as sent in `hello`.
pub fn server_name() -> String {
    concat!("pollpush/", env!("CARGO_PKG_VERSION")).to_owned()
}

/// What every handler and session shares.
#[derive(Debug, Clone)]
pub struct State(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub store: store::Store,
    pub feed: feed::ChangeFeed,
    pub stats: Arc<stats::Stats>,
    pub rooms: ws::rooms::Rooms,
    cors_origins: Arc<Vec<String>>,
    allowed_origins: Arc<Vec<String>>,
    /// The store revision when this process opened it.
    start_revision: u64,
    /// Flips to `true` once when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

impl Deref for State {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl State {
    fn cors_allows(&self, origin: &HeaderValue) -> bool {
        http::origin_allowed(&self.cors_origins, origin)
    }

    /// What the `info` event answers, on `/ws` and socket.io alike.
    pub fn server_info(&self) -> ServerInfo {
        let snapshot = self.store.snapshot();
        ServerInfo {
            server: server_name(),
            protocol: pollpush_shared::PROTOCOL_VERSION,
            revision: snapshot.revision,
            species: snapshot.species.len(),
            // Push clients of either protocol.
            clients: self
                .stats
                .ws
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
                + self
                    .stats
                    .socketio_sockets
                    .load(std::sync::atomic::Ordering::Relaxed),
            uptime_s: self.stats.uptime_s(),
        }
    }

    /// The `/stats` body, now.
    pub fn stats_snapshot(&self) -> ServerStats {
        let mut s = self
            .stats
            .snapshot(&server_name(), self.store.snapshot().revision);
        s.changes_applied = s.revision.saturating_sub(self.start_revision);
        s
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: State,
    simulator: SimulatorHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    io: socketioxide::SocketIo,
}

impl Server {
    /// Opens the store and starts serving on `listener`, in the background.
    pub async fn start(listener: TcpListener, config: Config) -> Result<Self, ServerError> {
        let addr = listener.local_addr()?;
        let feed = feed::ChangeFeed::new(config.ws.feed_capacity);
        let db = config.db.clone();
        let sender = feed.sender();
        let store = tokio::task::spawn_blocking(move || store::Store::open(&db, sender))
            .await
            .map_err(|_| StoreError::WorkerGone)??;
        let (stop, shutdown) = watch::channel(false);
        let state = State(Arc::new(Shared {
            cors_origins: Arc::new(config.cors_origins.clone()),
            allowed_origins: Arc::new(config.allowed_origins.clone()),
            config: config.clone(),
            start_revision: store.snapshot().revision,
            store: store.clone(),
            feed,
            stats: Arc::new(stats::Stats::default()),
            rooms: ws::rooms::Rooms::default(),
            shutdown: shutdown.clone(),
        }));
        let simulator = simulator::spawn(store, config.simulate, config.seed, shutdown.clone());
        let routes = warp::service(routes::routes(&state));
        let (service, io) = socketioxide::SocketIo::builder()
            .max_payload(rest::MAX_BODY_BYTES as u64)
            .build_with_inner_svc(routes);
        socketio::install(&io, &state);
        let mut until = shutdown;
        let task = tokio::spawn(http::serve(listener, state.clone(), service, async move {
            let _ = until.wait_for(|stop| *stop).await;
        }));
        Ok(Self {
            addr,
            state,
            simulator,
            stop,
            task,
            io,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Controls the change simulator.
    pub fn simulator(&self) -> SimulatorHandle {
        self.simulator.clone()
    }

    /// The server's counters, as `/stats` shows them.
    pub fn stats(&self) -> ServerStats {
        self.state.stats_snapshot()
    }

    /// Stops accepting, closes WebSocket sessions with 1001, lets in-flight
    /// requests finish and checkpoints the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.io.close().await;
        let _ = self.task.await;
        let store = self.state.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}

/// Serves on `listener` until `shutdown` resolves, then shuts down gracefully.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let server = Server::start(listener, config).await?;
    shutdown.await;
    server.shutdown().await;
    Ok(())
}
