//! `/stats` `tls`: the handshakes the server served itself, and what they chose.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// TLS handshakes and what they chose.
#[derive(Debug, Default)]
pub struct TlsCounters {
    full: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    tls13: AtomicU64,
    h2: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl TlsCounters {
    pub fn handshake(&self, h: &crate::tls::Handshake) {
        let kind = if h.resumed { &self.resumed } else { &self.full };
        kind.fetch_add(1, Relaxed);
        if h.tls13 {
            self.tls13.fetch_add(1, Relaxed);
        }
        if h.h2 {
            self.h2.fetch_add(1, Relaxed);
        }
        self.bytes_in.fetch_add(h.bytes_in, Relaxed);
        self.bytes_out.fetch_add(h.bytes_out, Relaxed);
    }

    pub fn failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    pub(super) fn snapshot(&self) -> pollpush_shared::TlsStats {
        let full = self.full.load(Relaxed);
        let resumed = self.resumed.load(Relaxed);
        let tls13 = self.tls13.load(Relaxed);
        pollpush_shared::TlsStats {
            handshakes_full: full,
            handshakes_resumed: resumed,
            handshakes_failed: self.failed.load(Relaxed),
            tls13,
            tls12: (full + resumed).saturating_sub(tls13),
            alpn_h2: self.h2.load(Relaxed),
            handshake_bytes_in: self.bytes_in.load(Relaxed),
            handshake_bytes_out: self.bytes_out.load(Relaxed),
        }
    }
}
