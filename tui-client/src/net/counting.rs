//! Byte counting on the socket itself, so a pane's traffic includes HTTP headers,
//! h2 and WebSocket framing and TLS records: what the wire carried, not what the
//! parser kept. The same counter keeps the TLS handshakes and how the last
//! connection spoke, so one event carries every cost of a lane.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::event::{Handshakes, HttpVersion, TlsVersion, TrafficTotals, Wire};

/// Cumulative bytes and TLS handshakes of every connection one producer opened.
#[derive(Debug, Default)]
pub struct Traffic {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    full_handshakes: AtomicU64,
    resumed_handshakes: AtomicU64,
    /// The last connection's [`Wire`], packed (see [`pack`]) so that reading
    /// it takes no lock on the lanes' hot path.
    wire: AtomicU8,
}

impl Traffic {
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            handshakes: Handshakes {
                full: self.full_handshakes.load(Ordering::Relaxed),
                resumed: self.resumed_handshakes.load(Ordering::Relaxed),
            },
            wire: unpack(self.wire.load(Ordering::Relaxed)),
        }
    }

    /// A TLS handshake finished; `resumed` when it reused an earlier session.
    pub fn handshake(&self, resumed: bool) {
        let counter = if resumed {
            &self.resumed_handshakes
        } else {
            &self.full_handshakes
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection is ready and speaks `wire`.
    pub fn spoke(&self, wire: Wire) {
        self.wire.store(pack(wire), Ordering::Relaxed);
    }
}

/// Two bits of HTTP version, two of TLS version; 0 is "unknown" in each.
fn pack(wire: Wire) -> u8 {
    let http = match wire.http {
        None => 0,
        Some(HttpVersion::H1) => 1,
        Some(HttpVersion::H2) => 2,
    };
    let tls = match wire.tls {
        None => 0,
        Some(TlsVersion::V1_2) => 1,
        Some(TlsVersion::V1_3) => 2,
    };
    http | tls << 2
}

fn unpack(bits: u8) -> Wire {
    Wire {
        http: match bits & 3 {
            1 => Some(HttpVersion::H1),
            2 => Some(HttpVersion::H2),
            _ => None,
        },
        tls: match bits >> 2 {
            1 => Some(TlsVersion::V1_2),
            2 => Some(TlsVersion::V1_3),
            _ => None,
        },
    }
}

impl pollpush_shared::counting::ByteCounter for Traffic {
    fn read(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    fn wrote(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }
}

/// An `AsyncRead + AsyncWrite` that adds every byte it moves to a [`Traffic`]
/// (the same stream the server counts its own sockets with).
pub type CountingStream<S> = pollpush_shared::counting::CountingStream<S, Arc<Traffic>>;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_bytes_both_ways() {
        let (a, mut b) = tokio::io::duplex(64);
        let traffic = Arc::new(Traffic::default());
        let mut a = CountingStream::new(a, traffic.clone());
        a.write_all(b"hello").await.expect("write");
        b.write_all(b"abc").await.expect("write");
        let mut buf = [0u8; 3];
        a.read_exact(&mut buf).await.expect("read");
        assert_eq!(
            traffic.totals(),
            TrafficTotals {
                bytes_in: 3,
                bytes_out: 5,
                ..TrafficTotals::default()
            }
        );
    }

    #[test]
    fn the_wire_survives_packing() {
        for http in [None, Some(HttpVersion::H1), Some(HttpVersion::H2)] {
            for tls in [None, Some(TlsVersion::V1_2), Some(TlsVersion::V1_3)] {
                let wire = Wire { http, tls };
                assert_eq!(unpack(pack(wire)), wire);
            }
        }
    }
}
