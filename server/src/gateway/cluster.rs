//! A feed in a cluster (`--broker`): one node polls it, the lease's holder
//! ([`super::lease`]); it sends every poll that changed something to the
//! others through Redis, which follow it ([`super::feed::Feed::follow`]).
//!
//! What crosses is the poll's upstream body behind a one-line header (the
//! revision and `ETag` it applies to, the revision it leads to), not the
//! changes: each node diffs the same items the same way, so it makes the same
//! changes with the same revisions, and serves them on its own lanes with
//! its own history. The last message is also kept in a key, so a node that
//! starts, or takes the lease, starts from the cluster's items and revision
//! rather than from nothing.

use pollpush_shared::Revision;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::feed::Applied;
use crate::broker::link::Link;

/// Where the cluster's Redis is and how this node is known there.
#[derive(Debug, Clone)]
pub struct ClusterLink {
    /// `redis://host:port`, the broker's.
    pub url: String,
    /// The broker's prefix of every key and channel.
    pub prefix: String,
    /// This node's id, the lease's value while it holds it.
    pub node: String,
}

impl ClusterLink {
    pub fn lease_key(&self, feed: &str) -> String {
        format!("{}feed:{feed}:poller", self.prefix)
    }

    fn state_key(&self, feed: &str) -> String {
        format!("{}feed:{feed}:state", self.prefix)
    }
}

/// The header of a feed's message between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    pub node: String,
    pub feed: String,
    pub before: Revision,
    pub before_etag: String,
    pub after: Revision,
}

impl Announce {
    pub fn applied(&self) -> Applied {
        Applied {
            before: self.before,
            before_etag: self.before_etag.clone(),
            after: self.after,
        }
    }
}

/// The header as one JSON line (JSON escapes every newline it holds), then the body.
pub fn encode(announce: &Announce, body: &[u8]) -> Vec<u8> {
    let mut payload = serde_json::to_vec(announce).unwrap_or_default();
    payload.push(b'\n');
    payload.extend_from_slice(body);
    payload
}

pub fn decode(payload: &[u8]) -> Option<(Announce, &[u8])> {
    let split = payload.iter().position(|b| *b == b'\n')?;
    let announce = serde_json::from_slice(&payload[..split]).ok()?;
    Some((announce, &payload[split + 1..]))
}

/// A poller's side of the cluster: its lease, and the connection it
/// publishes on.
pub struct PollerLink {
    pub cluster: ClusterLink,
    pub lease: watch::Receiver<bool>,
    link: Link,
}

impl PollerLink {
    pub fn new(cluster: ClusterLink, lease: watch::Receiver<bool>) -> Option<Self> {
        let client = redis::Client::open(cluster.url.as_str()).ok()?;
        Some(Self {
            cluster,
            lease,
            link: Link::new(client),
        })
    }

    /// Whether this node holds the feed's lease now.
    pub fn holds(&self) -> bool {
        *self.lease.borrow()
    }

    /// Until this node holds the lease.
    pub async fn until_held(&mut self) {
        // Err: the lease task ended (shutdown); the caller's shutdown arm ends it.
        if self.lease.wait_for(|held| *held).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sends a poll's changes to the other nodes, and keeps it for the next
    /// node to start or take over. A failure is logged: the others see a
    /// gap at the next message and jump to it.
    pub async fn publish(&mut self, feed: &str, applied: &Applied, body: &[u8]) {
        let announce = Announce {
            node: self.cluster.node.clone(),
            feed: feed.to_owned(),
            before: applied.before,
            before_etag: applied.before_etag.clone(),
            after: applied.after,
        };
        let payload = encode(&announce, body);
        let (key, channel) = (
            self.cluster.state_key(feed),
            crate::broker::feeds_channel(&self.cluster.prefix),
        );
        let Some(conn) = self.link.get().await else {
            tracing::warn!(
                feed,
                "broker unreachable: revision {} not sent",
                applied.after
            );
            return;
        };
        let sent: redis::RedisResult<()> = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(&payload)
            .ignore()
            .cmd("PUBLISH")
            .arg(&channel)
            .arg(&payload)
            .ignore()
            .query_async(conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(feed, "broker: revision {} not sent: {e}", applied.after);
            self.link.failed();
        }
    }

    /// The cluster's last message for `feed`: `Ok(None)` when no node has
    /// polled it yet, `Err` when Redis did not answer.
    pub async fn load(&mut self, feed: &str) -> Result<Option<Vec<u8>>, ()> {
        let key = self.cluster.state_key(feed);
        let Some(conn) = self.link.get().await else {
            return Err(());
        };
        let got: redis::RedisResult<Option<Vec<u8>>> =
            redis::cmd("GET").arg(&key).query_async(conn).await;
        got.map_err(|_| self.link.failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_its_header_then_the_body_as_sent() {
        let announce = Announce {
            node: "a\nb".to_owned(),
            feed: "t".to_owned(),
            before: 2,
            before_etag: "\"x\"".to_owned(),
            after: 5,
        };
        let body = b"[{\"id\":1}]\n";
        let payload = encode(&announce, body);
        let (read, rest) = decode(&payload).expect("decodes");
        assert_eq!(
            (read.node.as_str(), read.before, read.after),
            ("a\nb", 2, 5)
        );
        assert_eq!(rest, body);
        assert!(decode(b"no header").is_none());
    }
}
