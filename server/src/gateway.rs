//! The gateway: push for an API that only has REST. Each `--feed NAME=URL`
//! is polled once per interval ([`poller`]); the differences between two
//! answers become ordered changes ([`diff`]) of the feed ([`feed`]), served
//! on every lane (`/feeds/NAME`, its SSE, `/ws` and socket.io subscribers,
//! through [`subscription`]). The upstream sees one poller however many
//! clients watch.
//!
//! In a cluster (`--broker`) one node polls each feed, the holder of its
//! [`lease`]; the others follow its changes ([`cluster`]). Each node keeps
//! its feeds' recent history in memory, fed by its own polls or the broker;
//! the poller also writes each change to the store first, so `since` reaches
//! further back, on any node and across restarts.

pub mod cluster;
pub mod diff;
mod encoded;
pub mod feed;
mod lease;
mod poller;
pub mod spec;
pub mod subscription;
pub mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;

use pollpush_shared::FeedStats;

pub use spec::{FeedSpec, GatewayConfig};

use self::cluster::{ClusterLink, PollerLink};
use self::diff::Items;
use self::feed::{Feed, Stored};
use crate::error::StoreError;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// Every feed of this node, by name.
#[derive(Debug, Clone, Default)]
pub struct Feeds(Arc<BTreeMap<String, Arc<Feed>>>);

/// The feeds' pollers, made with the feeds and started once the node knows
/// whether it is in a cluster.
#[derive(Debug)]
pub struct Pollers {
    feeds: Vec<Arc<Feed>>,
    upstream: Option<upstream::Upstream>,
    config: GatewayConfig,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Client(#[from] upstream::ClientError),
}

impl Feeds {
    /// Makes the feeds, and the upstream client their pollers share.
    /// `capacity` is the history kept per feed.
    pub fn new(
        specs: &[FeedSpec],
        config: &GatewayConfig,
        capacity: usize,
    ) -> Result<(Self, Pollers), GatewayError> {
        spec::check_unique(specs).map_err(GatewayError::Spec)?;
        let upstream = if specs.is_empty() {
            None
        } else {
            Some(upstream::Upstream::new(config)?)
        };
        let feeds: BTreeMap<_, _> = specs
            .iter()
            .map(|spec| {
                (
                    spec.name.clone(),
                    Arc::new(Feed::new(spec.clone(), capacity)),
                )
            })
            .collect();
        let pollers = Pollers {
            feeds: feeds.values().cloned().collect(),
            upstream,
            config: config.clone(),
        };
        Ok((Self(Arc::new(feeds)), pollers))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Feed>> {
        self.0.get(name)
    }

    /// Writes the feeds' changes to `store`, and starts each feed where the
    /// store left it (a restart carries on from the stored revision). With
    /// `node`, each feed is kept under its name and the node's: nodes that
    /// share a store without a broker poll on their own, with their own
    /// revisions, which must not mix in one history.
    pub async fn attach(
        &self,
        store: &Store,
        id_field: &str,
        node: Option<&str>,
    ) -> Result<(), StoreError> {
        for feed in self.0.values() {
            let key = match node {
                Some(node) => format!("{}@{node}", feed.spec.name),
                None => feed.spec.name.clone(),
            };
            let state = store.feed_state(&key).await?;
            feed.attach(Stored {
                store: store.clone(),
                key,
            });
            let Some(state) = state else {
                continue;
            };
            match serde_json::from_str(&state.body) {
                Ok(doc) => feed.restore(state.revision, Items::read(doc, id_field)),
                Err(e) => {
                    tracing::warn!(feed = %feed.spec.name, "the stored items are not JSON ({e}); starting from the next poll");
                }
            }
        }
        Ok(())
    }

    /// A message from another node's poller (see [`cluster`]): its feed follows it.
    pub fn follow(&self, payload: &[u8], id_field: &str) {
        let Some((announce, body)) = cluster::decode(payload) else {
            tracing::warn!("broker: a feed message without its header");
            return;
        };
        let Some(feed) = self.get(&announce.feed) else {
            // Another node has a feed this one has not: not ours to serve.
            return;
        };
        match serde_json::from_slice(body) {
            Ok(doc) => {
                if feed.follow(&announce.applied(), Items::read(doc, id_field)) {
                    tracing::info!(feed = %announce.feed, "jumped to revision {} (a message was missed)", announce.after);
                }
            }
            Err(e) => tracing::warn!(feed = %announce.feed, "broker: a feed message's body: {e}"),
        }
    }

    /// `/stats` `feeds`, by name.
    pub fn stats(&self) -> Vec<FeedStats> {
        self.0.values().map(|f| f.stats()).collect()
    }

    /// `feed NAME (why)` for every feed whose last poll failed, for `/readyz`.
    pub fn failing(&self) -> Vec<String> {
        self.0
            .values()
            .filter_map(|f| {
                f.last_error()
                    .map(|e| format!("feed {} ({e})", f.spec.name))
            })
            .collect()
    }
}

impl Pollers {
    /// Starts one poller per feed; in a cluster, each behind its lease.
    pub fn start(self, cluster: Option<&ClusterLink>, shutdown: &Shutdown) {
        let Some(upstream) = self.upstream else {
            return;
        };
        for feed in self.feeds {
            let link = cluster.and_then(|cluster| {
                let client = redis::Client::open(cluster.url.as_str()).ok()?;
                let lease = lease::spawn(
                    client,
                    cluster.lease_key(&feed.spec.name),
                    cluster.node.clone(),
                    self.config.every,
                    shutdown.clone(),
                );
                PollerLink::new(cluster.clone(), lease)
            });
            let spec = &feed.spec;
            match &link {
                Some(_) => {
                    tracing::info!(feed = %spec.name, "polling {} every {:?} while this node holds the feed's lease", spec.url, self.config.every);
                }
                None => {
                    tracing::info!(feed = %spec.name, "polling {} every {:?}", spec.url, self.config.every);
                }
            }
            tokio::spawn(poller::run(
                feed,
                upstream.clone(),
                self.config.clone(),
                link,
                shutdown.clone(),
            ));
        }
    }
}
