//! The gateway: push for an API that only has REST. Each `--feed NAME=URL`
//! is polled by this node once per interval ([`poller`]); the differences
//! between two answers become ordered changes ([`diff`]) of the feed
//! ([`feed`]), served at `/feeds/NAME` and `/feeds/NAME/events` ([`lanes`]).
//! The upstream sees one poller however many clients watch.
//!
//! This slice runs on one node, with history in memory: a cluster lease
//! (one poller per cluster) and history in the store come later.

pub mod diff;
pub mod feed;
mod poller;
pub mod spec;
pub mod subscription;
pub mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;

use pollpush_shared::FeedStats;

pub use spec::{FeedSpec, GatewayConfig};

use self::feed::Feed;
use crate::shutdown::Shutdown;

/// Every feed of this node, by name.
#[derive(Debug, Clone, Default)]
pub struct Feeds(Arc<BTreeMap<String, Arc<Feed>>>);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Client(#[from] upstream::ClientError),
}

impl Feeds {
    /// Starts one poller per feed. `capacity` is the history kept per feed.
    pub fn start(
        specs: &[FeedSpec],
        config: &GatewayConfig,
        capacity: usize,
        shutdown: &Shutdown,
    ) -> Result<Self, GatewayError> {
        spec::check_unique(specs).map_err(GatewayError::Spec)?;
        if specs.is_empty() {
            return Ok(Self::default());
        }
        let upstream = upstream::Upstream::new(config)?;
        let mut feeds = BTreeMap::new();
        for spec in specs {
            let feed = Arc::new(Feed::new(spec.clone(), capacity));
            tokio::spawn(poller::run(
                feed.clone(),
                upstream.clone(),
                config.clone(),
                shutdown.clone(),
            ));
            tracing::info!(feed = %spec.name, "polling {} every {:?}", spec.url, config.every);
            feeds.insert(spec.name.clone(), feed);
        }
        Ok(Self(Arc::new(feeds)))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Feed>> {
        self.0.get(name)
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
