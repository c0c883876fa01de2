//! One feed's poller lease in a cluster: a Redis key (`SET NX PX`) holding
//! the poller's node id, renewed four times per feed interval and living
//! 1¼ intervals. Redis rather than a PostgreSQL advisory lock because the
//! broker, the cluster's other shared liveness state (heartbeats), is Redis,
//! and a key that expires needs no connection held per feed.
//!
//! A holder that dies stops renewing: its key expires within 1¼ intervals
//! and another node, trying every ¼ interval, takes it within 1½, so the
//! feed is polled again within 2 intervals. A holder that cannot renew (Redis
//! slow or away) stops polling at once rather than risk two pollers; one
//! that shuts down deletes its key so another takes over at its next try.

use std::time::Duration;

use tokio::sync::watch;

use crate::broker::link::Link;
use crate::shutdown::Shutdown;

/// Renews the key if this node holds it, else takes it if nobody does.
const TAKE_OR_RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end \
     if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end \
     return 0";
/// Deletes the key if this node still holds it.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) end return 0";

/// How long the key lives without renewal, and how often it is tried.
fn timing(every: Duration) -> (Duration, Duration) {
    let period = (every / 4).max(Duration::from_millis(10));
    (every * 5 / 4, period)
}

/// Starts the lease's task; the receiver says whether this node holds it.
pub fn spawn(
    client: redis::Client,
    key: String,
    node: String,
    every: Duration,
    shutdown: Shutdown,
) -> watch::Receiver<bool> {
    let (held, rx) = watch::channel(false);
    tokio::spawn(run(Link::new(client), key, node, every, held, shutdown));
    rx
}

async fn run(
    mut link: Link,
    key: String,
    node: String,
    every: Duration,
    held: watch::Sender<bool>,
    mut shutdown: Shutdown,
) {
    let (ttl, period) = timing(every);
    let ttl_ms = ttl.as_millis().max(1) as u64;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        // An answer slower than a period is no answer: the key may be gone.
        let holds = tokio::time::timeout(period, async {
            let conn = link.get().await?;
            redis::cmd("EVAL")
                .arg(TAKE_OR_RENEW)
                .arg(1)
                .arg(&key)
                .arg(&node)
                .arg(ttl_ms)
                .query_async::<i64>(conn)
                .await
                .ok()
        })
        .await;
        let holds = if let Ok(Some(answer)) = holds {
            answer == 1
        } else {
            link.failed();
            false
        };
        if holds != *held.borrow() {
            if holds {
                tracing::info!(lease = %key, "this node polls the feed now");
            } else {
                tracing::info!(lease = %key, "this node no longer polls the feed");
            }
            held.send_replace(holds);
        }
    }
    held.send_replace(false);
    if let Some(conn) = link.get().await {
        let _: redis::RedisResult<i64> = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&key)
            .arg(&node)
            .query_async(conn)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_holder_is_replaced_within_two_intervals() {
        let every = Duration::from_millis(400);
        let (ttl, period) = timing(every);
        // Expiry after the last renewal, then at most one try's wait.
        assert!(ttl + period < every * 2, "{ttl:?} + {period:?}");
        // Several renewals fit in the key's life, so one slow answer costs nothing.
        assert!(ttl >= period * 4);
    }
}
