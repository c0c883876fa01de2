//! pollpush-server: the species REST API and its push, on one node or many.
//!
//! Start it with [`Server::start`] on a listener you bound (port 0 in tests),
//! or with [`run`] until a shutdown future resolves. Every write, from REST or
//! the simulator, is committed by the [`store`] (SQLite, or PostgreSQL shared
//! by a cluster); the [`source`] delivers each committed change, this node's
//! or another's (through the [`broker`]), in revision order to the [`feed`],
//! which pushes it to every `/ws`, socket.io and other subscriber.

mod accept;
mod asyncapi;
mod auth;
pub mod broker;
pub mod config;
mod direct;
pub mod encoding;
pub mod error;
pub mod feed;
mod feeds;
pub mod frames;
pub mod gateway;
mod longpoll;
pub mod memory;
mod metrics;
mod openapi;
mod reply;
mod rest;
pub mod rooms;
mod routes;
pub mod shutdown;
pub mod simulator;
pub mod since;
pub mod snapshot;
mod socketio;
pub mod source;
mod sse;
pub mod state;
pub mod stats;
pub mod store;
pub mod tls;
pub mod watchdog;
pub mod wire;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use pollpush_shared::ServerStats;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{Config, WsConfig};
pub use error::{ServerError, StoreError};
pub use simulator::SimulatorHandle;
pub use state::State;

use broker::{Broker, BrokerConfig, RoomPayload};
use shutdown::Shutdown;
use state::Shared;

/// `pollpush/VERSION`, as sent in `hello`.
pub fn server_name() -> String {
    concat!("pollpush/", env!("CARGO_PKG_VERSION")).to_owned()
}

/// `host:port`, this node's id unless `--node-id` names it.
fn default_node_id(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| addr.ip().to_string());
    format!("{host}:{}", addr.port())
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: State,
    simulator: SimulatorHandle,
    stop: shutdown::Trigger,
    task: JoinHandle<()>,
    io: socketioxide::SocketIo,
}

impl Server {
    /// Opens the store and starts serving on `listener`, in the background.
    pub async fn start(listener: TcpListener, mut config: Config) -> Result<Self, ServerError> {
        tls::install_crypto();
        let addr = listener.local_addr()?;
        config.advertise.get_or_insert_with(|| addr.to_string());
        let node = config
            .node_id
            .clone()
            .unwrap_or_else(|| default_node_id(addr));
        let feed = feed::ChangeFeed::new(config.ws.feed_capacity);
        // Before the store: a bad --feed-ca-cert is refused with nothing opened.
        let (stop, shutdown) = Shutdown::new();
        let (feeds, pollers) =
            gateway::Feeds::new(&config.feeds, &config.gateway, config.ws.feed_capacity)
                .map_err(|e| ServerError::Feed(e.to_string()))?;
        let store = store::Store::open(&config.db).await?;
        // Nodes sharing the store without a broker each poll their feeds.
        let own_history = (store.is_shared() && config.broker.is_none()).then_some(node.as_str());
        feeds
            .attach(&store, &config.gateway.id_field, own_history)
            .await?;
        let broker = match &config.broker {
            Some(url) => Some(
                Broker::new(BrokerConfig {
                    url: url.clone(),
                    prefix: config.broker_prefix.clone(),
                    node: node.clone(),
                })
                .map_err(|e| ServerError::Broker(format!("{url}: {e}")))?,
            ),
            None => None,
        };
        let source =
            source::ChangeSource::open(store, &feed, broker.as_ref().map(Broker::sender)).await?;
        let state = State(Arc::new(Shared {
            cors_origins: Arc::new(config.cors_origins.clone()),
            allowed_origins: Arc::new(config.allowed_origins.clone()),
            start_revision: source.snapshot().revision,
            config: config.clone(),
            node,
            source: source.clone(),
            feed,
            stats: Arc::new(stats::Stats::default()),
            rooms: rooms::Rooms::default(),
            broker: broker.clone(),
            shutdown: shutdown.clone(),
            feeds,
        }));
        let simulator = simulator::spawn(
            source.clone(),
            config.simulate,
            config.seed,
            shutdown.clone(),
        );
        let routes = warp::service(routes::routes(&state));
        let (service, io) = socketioxide::SocketIo::builder()
            .max_payload(rest::MAX_BODY_BYTES as u64)
            // Client packets are small (events, acks, pings), as on /ws; the
            // default 4 KiB read buffer was kept for every socket's life.
            .ws_read_buffer_size(ws::READ_BUFFER_BYTES)
            .build_with_inner_svc(routes);
        socketio::install(&io, &state);
        if source.store().is_shared() {
            // Other nodes write too: this node checks its position even
            // without a broker, so their changes reach it within a second.
            tokio::spawn(
                source
                    .clone()
                    .check_position(config.position_interval, shutdown.clone()),
            );
        }
        if let Some(broker) = &broker {
            let rooms = room_delivery(&state, &io);
            let st = state.clone();
            let report: broker::NodeReport = Arc::new(move || st.node_stats());
            let (feeds, id_field) = (state.feeds.clone(), config.gateway.id_field.clone());
            let follow: broker::FeedDelivery =
                Arc::new(move |payload| feeds.follow(payload, &id_field));
            broker.start(source, (rooms, follow), report, shutdown.clone());
        }
        // One poller per feed in the cluster: the lease lives beside the broker.
        let cluster = config
            .broker
            .as_ref()
            .map(|url| gateway::cluster::ClusterLink {
                url: url.clone(),
                prefix: config.broker_prefix.clone(),
                node: state.node.clone(),
            });
        pollers.start(cluster.as_ref(), &shutdown);
        let mut until = shutdown;
        let task = tokio::spawn(accept::serve(
            listener,
            state.clone(),
            service,
            async move {
                until.wait().await;
            },
        ));
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
        self.stop.fire();
        self.io.close().await;
        let _ = self.task.await;
        self.state.source.store().close().await;
    }
}

/// Hands room broadcasts from other nodes to this node's members: `/ws`
/// sessions through the rooms registry, socket.io sockets through socketioxide.
fn room_delivery(state: &State, io: &socketioxide::SocketIo) -> broker::RoomDelivery {
    let (state, io) = (state.clone(), io.clone());
    Arc::new(move |msg| match msg.payload {
        RoomPayload::Ws { text } => {
            state
                .rooms
                .broadcast(&msg.room, rooms::NOBODY, &text.into());
        }
        RoomPayload::SocketIo { event, data } => {
            let io = io.clone();
            tokio::spawn(async move {
                // No default namespace once socket.io has closed (shutdown).
                if let Some(all) = io.of("/") {
                    let _ = all.to(msg.room).emit(&event, &data).await;
                }
            });
        }
    })
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
