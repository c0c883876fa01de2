//! The loop that polls one feed's upstream once per interval and hands what
//! it answers to the feed. A fault (timeout, error status, invalid JSON, too
//! large) leaves the feed as it was and waits longer before the next try,
//! doubling up to a cap; one log line when a fault starts or changes, one
//! when the upstream recovers, none per poll. In a cluster it polls only
//! while this node holds the feed's lease, and sends what changed to the others.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::cluster::{PollerLink, decode};
use super::diff::Items;
use super::feed::{Applied, Feed};
use super::spec::GatewayConfig;
use super::upstream::{Fetched, Upstream, UpstreamError, Validators};
use crate::shutdown::Shutdown;
use crate::store::{Appended, FeedWrite};

/// The longest wait after repeated faults: 32 intervals, and never more than
/// 30 s unless the interval itself is longer.
fn backoff_cap(every: Duration) -> Duration {
    (every * 32).min(every.max(Duration::from_secs(30)))
}

/// Polls until shutdown: the first poll at once, then one per interval. In
/// a cluster, only while this node holds the feed's lease, starting from the
/// cluster's last items each time it takes it.
pub async fn run(
    feed: Arc<Feed>,
    upstream: Upstream,
    config: GatewayConfig,
    mut link: Option<PollerLink>,
    mut shutdown: Shutdown,
) {
    let mut known = Validators::default();
    let mut delay = Duration::ZERO;
    if let Some(link) = &mut link {
        // A node that starts serves the cluster's items, not nothing, until it polls.
        let _ = catch_up(&feed, link, &config).await;
    }
    loop {
        if let Some(link) = link.as_mut().filter(|l| !l.holds()) {
            feed.set_polling(false);
            tokio::select! {
                () = link.until_held() => {}
                () = shutdown.wait() => return,
            }
            if catch_up(&feed, link, &config).await.is_err() {
                // Without the cluster's last items, a poll could repeat changes.
                tokio::select! {
                    () = tokio::time::sleep(config.every / 4) => continue,
                    () = shutdown.wait() => return,
                }
            }
            feed.set_polling(true);
            // Another node polled meanwhile: what this one last saw is stale.
            known = Validators::default();
            delay = Duration::ZERO;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.wait() => return,
        }
        if link.as_ref().is_some_and(|l| !l.holds()) {
            continue;
        }
        // A poll slower than the lease must not apply after another node's.
        let holds = || link.as_ref().is_none_or(PollerLink::holds);
        let polled = tokio::select! {
            polled = poll(&feed, &upstream, &config, &known, holds) => polled,
            () = shutdown.wait() => return,
        };
        delay = match polled {
            Ok(polled) => {
                if let Some(validators) = polled.validators {
                    known = validators;
                }
                if let (Some(link), Some((applied, body))) = (&mut link, polled.changed) {
                    link.publish(&feed.spec.name, &applied, &body).await;
                }
                if feed.healthy() {
                    tracing::info!(feed = %feed.spec.name, "upstream {} answers again", feed.spec.url);
                }
                config.every
            }
            Err(e) => {
                if feed.failed(e.to_string()) {
                    tracing::warn!(feed = %feed.spec.name, "upstream {}: {e}; clients keep the last good items", feed.spec.url);
                }
                (delay * 2).clamp(config.every, backoff_cap(config.every))
            }
        };
    }
}

/// Brings the feed to the cluster's last poll, if it is behind.
async fn catch_up(feed: &Feed, link: &mut PollerLink, config: &GatewayConfig) -> Result<(), ()> {
    let Some(payload) = link.load(&feed.spec.name).await? else {
        return Ok(());
    };
    let Some((announce, body)) = decode(&payload) else {
        return Ok(());
    };
    if let Ok(doc) = serde_json::from_slice(body) {
        feed.follow(&announce.applied(), Items::read(doc, &config.id_field));
    }
    Ok(())
}

/// What one poll brought.
struct Polled {
    /// The new validators, when a body was accepted.
    validators: Option<Validators>,
    /// What it changed, and the body it changed it to, for the other nodes.
    changed: Option<(Applied, Vec<u8>)>,
}

/// One poll.
async fn poll(
    feed: &Feed,
    upstream: &Upstream,
    config: &GatewayConfig,
    known: &Validators,
    holds: impl Fn() -> bool,
) -> Result<Polled, UpstreamError> {
    let counters = &feed.counters;
    counters.requests.fetch_add(1, Relaxed);
    let bytes_read = |n: usize| {
        counters.bytes.fetch_add(n as u64, Relaxed);
    };
    match upstream.fetch(&feed.spec.url, known, &bytes_read).await? {
        Fetched::NotModified => {
            counters.not_modified.fetch_add(1, Relaxed);
            Ok(Polled {
                validators: None,
                changed: None,
            })
        }
        Fetched::Body(body, validators) => {
            let doc: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| UpstreamError::InvalidJson(e.to_string()))?;
            let items = Items::read(doc, &config.id_field);
            if items.len() > config.max_items {
                return Err(UpstreamError::TooManyItems {
                    count: items.len(),
                    limit: config.max_items,
                });
            }
            let unchanged = Polled {
                validators: None,
                changed: None,
            };
            if !holds() {
                return Ok(unchanged);
            }
            let Some(prepared) = feed.prepare(items) else {
                return Ok(Polled {
                    validators: Some(validators),
                    changed: None,
                });
            };
            if let Some(stored) = feed.stored() {
                // Stored before anyone sees it: a `since` from any node, or
                // after a restart, finds it. A failed write shows nothing
                // and keeps the old validators, so the next poll retries it.
                let write = FeedWrite {
                    feed: stored.key.clone(),
                    before: prepared.applied.before,
                    changes: prepared
                        .events
                        .iter()
                        .map(|e| (e.revision, e.text.to_string()))
                        .collect(),
                    after: prepared.applied.after,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let appended = stored.store.feed_append(write).await;
                match appended.map_err(|e| UpstreamError::Store(e.to_string()))? {
                    // Stored, so it is the feed's next state, lease or not:
                    // a poller that wrote meanwhile was refused and jumps here.
                    Appended::Written => {}
                    Appended::Moved(at) => {
                        // Another poller stored first (a lease handover), or
                        // this node was behind: start again from the store.
                        if let Ok(doc) = serde_json::from_str(&at.body) {
                            feed.jump(at.revision, Items::read(doc, &config.id_field));
                        }
                        return Ok(unchanged);
                    }
                }
            }
            let changed = feed.commit(prepared).map(|applied| (applied, body));
            Ok(Polled {
                validators: Some(validators),
                changed,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stops_at_32_intervals_or_30_seconds() {
        assert_eq!(
            backoff_cap(Duration::from_millis(50)),
            Duration::from_millis(1600)
        );
        assert_eq!(backoff_cap(Duration::from_secs(1)), Duration::from_secs(30));
        assert_eq!(backoff_cap(Duration::from_mins(1)), Duration::from_mins(1));
    }
}
