//! What one lane's clients counted over a window, in a form that adds up.
//!
//! A run reads each lane into a [`LaneTally`] and reports from it; with
//! `--workers`, every worker process sends its tallies to the parent as JSON
//! and the parent adds them up: counters and bytes summed, histograms merged
//! bucket by bucket (percentiles are never averaged).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use super::arrivals::Arrivals;
use super::protocol::{Protocol, lock};
use crate::app::staleness::Staleness;
use crate::event::TrafficTotals;

/// One lane's counts over a window, all its clients together.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LaneTally {
    pub clients: usize,
    pub seen: u64,
    pub missed: u64,
    pub requests: u64,
    pub not_modified: u64,
    pub messages: u64,
    pub errors: u64,
    /// Errors by cause: `EMFILE`, `EADDRNOTAVAIL`, `ECONNREFUSED`, or `other`.
    pub error_causes: BTreeMap<String, u64>,
    pub reconnects: u64,
    /// Bytes and handshakes since the window started.
    pub traffic: TrafficTotals,
    pub staleness: Staleness,
    pub latency: Staleness,
    /// Per change: deliveries and the last one's latency.
    #[serde(default)]
    pub arrivals: Arrivals,
}

impl LaneTally {
    /// Reads `protocol`'s counters, its traffic since `base`.
    pub fn read(protocol: &Protocol, base: TrafficTotals) -> Self {
        let delivered = lock(&protocol.delivered).clone();
        Self {
            clients: protocol.clients(),
            seen: protocol.seen.load(Relaxed),
            missed: protocol.missed.load(Relaxed),
            requests: protocol.requests.load(Relaxed),
            not_modified: protocol.not_modified.load(Relaxed),
            messages: protocol.messages.load(Relaxed),
            errors: protocol.errors.load(Relaxed),
            error_causes: lock(&protocol.error_causes).clone(),
            reconnects: protocol.reconnects.load(Relaxed),
            traffic: protocol.traffic.totals().since(base),
            staleness: lock(&protocol.staleness).clone(),
            latency: delivered.latency,
            arrivals: delivered.arrivals,
        }
    }

    /// Adds `other`, another process's share of the same lane.
    pub fn merge(&mut self, other: &Self) {
        self.clients += other.clients;
        for (mine, theirs) in [
            (&mut self.seen, other.seen),
            (&mut self.missed, other.missed),
            (&mut self.requests, other.requests),
            (&mut self.not_modified, other.not_modified),
            (&mut self.messages, other.messages),
            (&mut self.errors, other.errors),
            (&mut self.reconnects, other.reconnects),
            (&mut self.traffic.bytes_in, other.traffic.bytes_in),
            (&mut self.traffic.bytes_out, other.traffic.bytes_out),
            (
                &mut self.traffic.handshakes.full,
                other.traffic.handshakes.full,
            ),
            (
                &mut self.traffic.handshakes.resumed,
                other.traffic.handshakes.resumed,
            ),
        ] {
            *mine += theirs;
        }
        for (cause, n) in &other.error_causes {
            *self.error_causes.entry(cause.clone()).or_default() += n;
        }
        let wire = &mut self.traffic.wire;
        wire.http = wire.http.or(other.traffic.wire.http);
        wire.tls = wire.tls.or(other.traffic.wire.tls);
        self.staleness.merge(&other.staleness);
        self.latency.merge(&other.latency);
        self.arrivals.merge(&other.arrivals);
    }
}

/// The cause of a client's error, named by the errno in its message: the
/// three a large load meets (its own file limit, the loopback's ports, a
/// node that refuses), or `other`.
pub fn cause(message: &str) -> &'static str {
    const CAUSES: [(&str, &str); 3] = [
        ("Too many open files", "EMFILE"),
        ("Cannot assign requested address", "EADDRNOTAVAIL"),
        ("Connection refused", "ECONNREFUSED"),
    ];
    CAUSES
        .iter()
        .find(|(text, _)| message.contains(text))
        .map_or("other", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event::{Handshakes, HttpVersion};

    fn tally(clients: usize, stale_ms: &[u64], peak_ms: u64) -> LaneTally {
        let mut t = LaneTally {
            clients,
            seen: 10 * clients as u64,
            errors: 1,
            traffic: TrafficTotals {
                bytes_in: 1000,
                bytes_out: 10,
                handshakes: Handshakes {
                    full: 1,
                    resumed: 2,
                },
                ..TrafficTotals::default()
            },
            ..LaneTally::default()
        };
        *t.error_causes.entry("EMFILE".into()).or_default() += 1;
        for ms in stale_ms {
            t.staleness.sample(Duration::from_millis(*ms));
        }
        t.staleness.observe_peak(Duration::from_millis(peak_ms));
        t
    }

    #[test]
    fn two_workers_add_up_exactly_and_their_histograms_merge() {
        let mut a = tally(3, &[10, 20, 30], 35);
        let mut b = tally(1, &[500, 600], 700);
        b.traffic.wire.http = Some(HttpVersion::H2);
        // Through JSON, as a worker sends it.
        let b: LaneTally =
            serde_json::from_str(&serde_json::to_string(&b).expect("serializes")).expect("parses");
        a.merge(&b);
        assert_eq!((a.clients, a.seen, a.errors), (4, 40, 2));
        assert_eq!(a.error_causes.get("EMFILE"), Some(&2));
        assert_eq!(
            (
                a.traffic.bytes_in,
                a.traffic.bytes_out,
                a.traffic.handshakes
            ),
            (
                2000,
                20,
                Handshakes {
                    full: 2,
                    resumed: 4
                }
            )
        );
        assert_eq!(a.traffic.wire.http, Some(HttpVersion::H2));
        // Five samples in all: the median is the third (30 ms), the top two
        // are b's; the max is b's peak, not an average of the two.
        let ms = |d: Duration| d.as_millis();
        assert!((29..=31).contains(&ms(a.staleness.quantile(0.5))));
        assert!((499..=501).contains(&ms(a.staleness.quantile(0.7))));
        assert_eq!(a.staleness.max(), Duration::from_millis(700));
    }

    #[test]
    fn an_error_is_named_by_its_errno() {
        assert_eq!(
            cause("connect: Too many open files (os error 24)"),
            "EMFILE"
        );
        assert_eq!(
            cause("Cannot assign requested address (os error 99)"),
            "EADDRNOTAVAIL"
        );
        assert_eq!(cause("Connection refused (os error 111)"), "ECONNREFUSED");
        assert_eq!(cause("HTTP 503"), "other");
    }
}
