//! `/stats` `transport`: the connections and socket bytes of every protocol,
//! split by HTTP version and by TLS.
//!
//! Only HTTP/2 is counted as it happens (a connection moves there, with its
//! bytes so far, once ALPN or its first request says h2); HTTP/1.1 is the rest
//! of the protocols' totals, so the hot path of an HTTP/1.1 connection adds to
//! no extra shared counter. One listener serves either TLS or cleartext, so
//! the TLS split is all on one side.

use std::sync::atomic::Ordering::Relaxed;

use pollpush_shared::{LinkStats, TransportStats};

use super::{Stats, Traffic};

impl Stats {
    /// The split of every connection by HTTP version, and by TLS (`tls`:
    /// whether the listener speaks it).
    pub fn transport(&self, tls: bool) -> TransportStats {
        let protocols = [
            &self.rest,
            &self.ws,
            &self.socketio,
            &self.longpoll,
            &self.sse,
        ];
        let all = LinkStats {
            connections: protocols.iter().map(|t| t.connections.load(Relaxed)).sum(),
            // Every accepted connection starts as REST.
            connections_total: self.rest.connections_total.load(Relaxed),
            bytes_in: protocols.iter().map(|t| t.bytes_in.load(Relaxed)).sum(),
            bytes_out: protocols.iter().map(|t| t.bytes_out.load(Relaxed)).sum(),
        };
        let h2 = link(&self.h2);
        let h1 = LinkStats {
            connections: all.connections.saturating_sub(h2.connections),
            connections_total: all.connections_total.saturating_sub(h2.connections_total),
            bytes_in: all.bytes_in.saturating_sub(h2.bytes_in),
            bytes_out: all.bytes_out.saturating_sub(h2.bytes_out),
        };
        let (plaintext, tls) = if tls {
            (LinkStats::default(), all)
        } else {
            (all, LinkStats::default())
        };
        TransportStats {
            h1,
            h2,
            plaintext,
            tls,
        }
    }
}

fn link(t: &Traffic) -> LinkStats {
    LinkStats {
        connections: t.connections.load(Relaxed),
        connections_total: t.connections_total.load(Relaxed),
        bytes_in: t.bytes_in.load(Relaxed),
        bytes_out: t.bytes_out.load(Relaxed),
    }
}
