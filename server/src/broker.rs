//! The broker: Redis pub/sub between the nodes of a cluster.
//!
//! After a commit, the writing node publishes the change's text, encoded
//! once, exactly as its own subscribers receive it; every other node hands it
//! to its change source, which delivers it in order (filling any gap from the
//! store's history). Room broadcasts travel the same way. Pub/sub keeps
//! nothing for a node that is away, so nothing relies on it alone: the change
//! source's position check recovers whatever a broker outage dropped.
//!
//! Each task reconnects by itself with a short backoff; while Redis is away
//! writes still succeed (publishes are dropped and counted) and `/readyz`
//! says the broker is down.

mod heartbeat;
pub(crate) mod link;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use pollpush_shared::{ClusterStats, NodeStats};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::frames::ChangeFrame;
use crate::shutdown::Shutdown;
pub use heartbeat::HEARTBEAT_TTL;
use link::Link;

/// Publishes waiting while Redis is slow; past this they are dropped (the
/// position check delivers those changes anyway).
const OUTBOX: usize = 4_096;
/// Wait between reconnection attempts.
const RETRY: Duration = Duration::from_millis(250);

/// What the broker hands the changes of other nodes to: the node's change
/// source. A trait, so that the broker does not depend on the source, which
/// publishes through the broker.
pub trait Deliver: Send + Sync + 'static {
    /// A change another node published, in the order the broker received it.
    fn deliver(&self, frame: &Arc<ChangeFrame>) -> impl Future<Output = ()> + Send;
    /// Messages may have been lost (the broker just reconnected): check the
    /// position against the store soon.
    fn check_soon(&self);
}

/// Where the broker is and how this node is known there.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `redis://host:port`.
    pub url: String,
    /// Prefix of every channel and key, so several clusters (or tests) share one Redis.
    pub prefix: String,
    /// This node's id.
    pub node: String,
}

impl BrokerConfig {
    fn changes_channel(&self) -> String {
        format!("{}changes", self.prefix)
    }
    fn rooms_channel(&self) -> String {
        format!("{}rooms", self.prefix)
    }
}

/// The channel an upstream feed's poller sends its changes on (see
/// `gateway::cluster`); the broker hands them over as they come.
pub fn feeds_channel(prefix: &str) -> String {
    format!("{prefix}feeds")
}

/// A broadcast to a room other than `species`, as it crosses nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomMessage {
    /// The node it comes from, which has already delivered it locally.
    pub node: String,
    pub room: String,
    #[serde(flatten)]
    pub payload: RoomPayload,
}

/// What a room broadcast carries, per protocol.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum RoomPayload {
    /// The `/ws` `event` message, serialized once by the sender's node.
    Ws { text: String },
    /// A socket.io event and its argument.
    SocketIo {
        event: String,
        data: serde_json::Value,
    },
}

/// A message on its way out: the channel and the bytes to publish there.
type Outgoing = (String, Bytes);

/// The sending half, held by the change source and the sessions.
#[derive(Debug, Clone)]
pub struct BrokerSender {
    outbox: mpsc::Sender<Outgoing>,
    config: Arc<BrokerConfig>,
    dropped: Arc<AtomicU64>,
}

impl BrokerSender {
    /// Publishes a committed change, the same bytes this node's subscribers get.
    pub fn publish_change(&self, frame: &ChangeFrame) {
        let text = Bytes::copy_from_slice(frame.text.as_bytes());
        self.send(self.config.changes_channel(), text);
    }

    /// Sends a room broadcast to the other nodes.
    pub fn publish_room(&self, room: &str, payload: RoomPayload) {
        let msg = RoomMessage {
            node: self.config.node.clone(),
            room: room.to_owned(),
            payload,
        };
        if let Ok(json) = serde_json::to_vec(&msg) {
            self.send(self.config.rooms_channel(), json.into());
        }
    }

    fn send(&self, channel: String, payload: Bytes) {
        if self.outbox.try_send((channel, payload)).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Delivers room broadcasts from other nodes to this node's members.
pub type RoomDelivery = Arc<dyn Fn(RoomMessage) + Send + Sync>;
/// Delivers a feed poller's message from the feeds channel to this node's feeds.
pub type FeedDelivery = Arc<dyn Fn(&[u8]) + Send + Sync>;
/// Reports this node's counters for its heartbeat.
pub type NodeReport = Arc<dyn Fn() -> NodeStats + Send + Sync>;

/// The broker as the rest of the node sees it.
#[derive(Debug, Clone)]
pub struct Broker {
    sender: BrokerSender,
    connected: Arc<AtomicBool>,
    cluster: Arc<RwLock<Option<ClusterStats>>>,
    /// Taken by the publisher task when the broker starts.
    outbox: Arc<Mutex<Option<mpsc::Receiver<Outgoing>>>>,
}

impl Broker {
    /// A broker for `config`; nothing connects until [`Broker::start`].
    pub fn new(config: BrokerConfig) -> Result<Self, redis::RedisError> {
        // Checked now, so a bad URL fails the start, not every reconnect.
        redis::Client::open(config.url.as_str())?;
        let (outbox, rx) = mpsc::channel(OUTBOX);
        Ok(Self {
            sender: BrokerSender {
                outbox,
                config: Arc::new(config),
                dropped: Arc::new(AtomicU64::new(0)),
            },
            connected: Arc::new(AtomicBool::new(false)),
            cluster: Arc::new(RwLock::new(None)),
            outbox: Arc::new(Mutex::new(Some(rx))),
        })
    }

    pub fn sender(&self) -> BrokerSender {
        self.sender.clone()
    }

    /// Whether this node is subscribed to the broker right now.
    pub fn connected(&self) -> bool {
        self.connected.load(Relaxed)
    }

    /// Publishes dropped because Redis was away or slow.
    pub fn dropped(&self) -> u64 {
        self.sender.dropped.load(Relaxed)
    }

    /// The live nodes, as the last heartbeat round saw them.
    pub fn cluster(&self) -> Option<ClusterStats> {
        self.cluster
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts the subscriber, publisher and heartbeat tasks, until `shutdown`.
    pub fn start(
        &self,
        source: impl Deliver,
        (rooms, feeds): (RoomDelivery, FeedDelivery),
        report: NodeReport,
        shutdown: Shutdown,
    ) {
        let config = self.sender.config.clone();
        let Ok(client) = redis::Client::open(config.url.as_str()) else {
            return;
        };
        let outbox = self
            .outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(outbox) = outbox {
            let link = Link::new(client.clone());
            tokio::spawn(publish(link, outbox, self.sender.dropped.clone()));
        }
        tokio::spawn(subscribe(
            client.clone(),
            config.clone(),
            source,
            (rooms, feeds),
            self.connected.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(heartbeat::run(
            Link::new(client),
            config,
            report,
            self.cluster.clone(),
            shutdown,
        ));
    }
}

/// Sends what the node publishes, in order; drops it while Redis is away.
async fn publish(mut link: Link, mut outbox: mpsc::Receiver<Outgoing>, dropped: Arc<AtomicU64>) {
    while let Some((channel, payload)) = outbox.recv().await {
        let Some(conn) = link.get().await else {
            dropped.fetch_add(1, Relaxed);
            continue;
        };
        let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload.as_ref())
            .query_async(conn)
            .await;
        if let Err(e) = sent {
            tracing::debug!("publish to the broker failed: {e}");
            dropped.fetch_add(1, Relaxed);
            link.failed();
        }
    }
}

/// Listens to the cluster's channels, reconnecting until `shutdown`.
async fn subscribe(
    client: redis::Client,
    config: Arc<BrokerConfig>,
    source: impl Deliver,
    (rooms, feeds): (RoomDelivery, FeedDelivery),
    connected: Arc<AtomicBool>,
    mut shutdown: Shutdown,
) {
    let (changes, room_channel) = (config.changes_channel(), config.rooms_channel());
    let feed_channel = feeds_channel(&config.prefix);
    let mut was_up = true;
    loop {
        let attempt = tokio::time::timeout(link::CONNECT_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub
                .subscribe(&[
                    changes.as_str(),
                    room_channel.as_str(),
                    feed_channel.as_str(),
                ])
                .await?;
            redis::RedisResult::Ok(pubsub)
        })
        .await;
        match attempt {
            Ok(Ok(pubsub)) => {
                connected.store(true, Relaxed);
                tracing::info!("broker connected: {}", config.url);
                was_up = true;
                // Anything published while we were away was lost to us.
                source.check_soon();
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(msg) if msg.get_channel_name() == changes => {
                                match ChangeFrame::from_text(msg.get_payload_bytes()) {
                                    Ok(frame) => source.deliver(&frame).await,
                                    Err(e) => tracing::warn!("broker: {e}"),
                                }
                            }
                            Some(msg) if msg.get_channel_name() == feed_channel => {
                                feeds(msg.get_payload_bytes());
                            }
                            Some(msg) => match serde_json::from_slice::<RoomMessage>(msg.get_payload_bytes()) {
                                Ok(room) if room.node != config.node => rooms(room),
                                Ok(_) => {}
                                Err(e) => tracing::warn!("broker: bad room message: {e}"),
                            },
                            None => break,
                        },
                        () = shutdown.wait() => return,
                    }
                }
                connected.store(false, Relaxed);
                tracing::warn!("broker connection lost; reconnecting");
            }
            Ok(Err(e)) if was_up => {
                tracing::warn!("broker unreachable: {e}");
                was_up = false;
            }
            _ => {}
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = shutdown.wait() => return,
        }
    }
}
