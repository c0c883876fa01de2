//! The cluster view: each node writes its counters to a Redis key that
//! expires unless renewed, and reads everyone's, once a second.
//!
//! A node that dies stops renewing its key and drops out of the view within
//! [`HEARTBEAT_TTL`]; one that shuts down deletes its key at once.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use pollpush_shared::{ClusterStats, ClusterTotals, NodeStats};

use super::link::Link;
use super::{BrokerConfig, NodeReport};
use crate::shutdown::Shutdown;

/// How often a node renews its heartbeat and reads the others'.
const EVERY: Duration = Duration::from_secs(1);
/// How long a heartbeat lives without renewal.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(3);

pub async fn run(
    mut link: Link,
    config: Arc<BrokerConfig>,
    report: NodeReport,
    view: Arc<RwLock<Option<ClusterStats>>>,
    mut shutdown: Shutdown,
) {
    let key = format!("{}node:{}", config.prefix, config.node);
    let pattern = format!("{}node:*", config.prefix);
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        let seen = beat(&mut link, &key, &pattern, &report()).await;
        if seen.is_none() {
            link.failed();
        }
        *view.write().unwrap_or_else(PoisonError::into_inner) = seen;
    }
    if let Some(conn) = link.get().await {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&key).query_async(conn).await;
    }
}

/// Renews this node's heartbeat and reads every live one.
async fn beat(link: &mut Link, key: &str, pattern: &str, me: &NodeStats) -> Option<ClusterStats> {
    let conn = link.get().await?;
    let json = serde_json::to_string(me).ok()?;
    let ttl = HEARTBEAT_TTL.as_millis() as u64;
    redis::cmd("SET")
        .arg(key)
        .arg(json)
        .arg("PX")
        .arg(ttl)
        .query_async::<()>(conn)
        .await
        .ok()?;
    let mut keys = Vec::new();
    let mut cursor = 0_u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .ok()?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    if keys.is_empty() {
        // Our own key expired between SET and SCAN (a very slow Redis): only us.
        return Some(view_of(vec![me.clone()]));
    }
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(conn).await.ok()?;
    let mut nodes: Vec<NodeStats> = values
        .into_iter()
        .flatten()
        .filter_map(|v| serde_json::from_str(&v).ok())
        .collect();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    Some(view_of(nodes))
}

fn view_of(nodes: Vec<NodeStats>) -> ClusterStats {
    let totals = ClusterTotals {
        nodes: nodes.len() as u64,
        connections: nodes.iter().map(|n| n.connections).sum(),
        subscribers: nodes.iter().map(|n| n.subscribers).sum(),
        rss_bytes: nodes.iter().map(|n| n.rss_bytes).sum(),
    };
    ClusterStats { nodes, totals }
}
