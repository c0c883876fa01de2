//! The loop that polls one feed's upstream once per interval and hands what
//! it answers to the feed. A fault (timeout, error status, invalid JSON, too
//! large) leaves the feed as it was and waits longer before the next try,
//! doubling up to a cap; one log line when a fault starts or changes, one
//! when the upstream recovers, none per poll.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::diff::Items;
use super::feed::Feed;
use super::spec::GatewayConfig;
use super::upstream::{Fetched, Upstream, UpstreamError, Validators};
use crate::shutdown::Shutdown;

/// The longest wait after repeated faults: 32 intervals, and never more than
/// 30 s unless the interval itself is longer.
fn backoff_cap(every: Duration) -> Duration {
    (every * 32).min(every.max(Duration::from_secs(30)))
}

/// Polls until shutdown: the first poll at once, then one per interval.
pub async fn run(
    feed: Arc<Feed>,
    upstream: Upstream,
    config: GatewayConfig,
    mut shutdown: Shutdown,
) {
    let mut known = Validators::default();
    let mut delay = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.wait() => return,
        }
        let polled = tokio::select! {
            polled = poll(&feed, &upstream, &config, &known) => polled,
            () = shutdown.wait() => return,
        };
        delay = match polled {
            Ok(validators) => {
                if let Some(validators) = validators {
                    known = validators;
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

/// One poll: the new validators when a body was accepted.
async fn poll(
    feed: &Feed,
    upstream: &Upstream,
    config: &GatewayConfig,
    known: &Validators,
) -> Result<Option<Validators>, UpstreamError> {
    let counters = &feed.counters;
    counters.requests.fetch_add(1, Relaxed);
    let bytes_read = |n: usize| {
        counters.bytes.fetch_add(n as u64, Relaxed);
    };
    match upstream.fetch(&feed.spec.url, known, &bytes_read).await? {
        Fetched::NotModified => {
            counters.not_modified.fetch_add(1, Relaxed);
            Ok(None)
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
            feed.apply(items);
            Ok(Some(validators))
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
