//! One churning `/ws` subscriber: connects, subscribes with `since`, reads
//! (slowly, if told to) for 0.5–4 s, drops the connection (abruptly or with a
//! close frame, alternately) and does it again, checking every revision.
//! Of the species room, or of an upstream feed's (`--room NAME`): both send
//! `subscribed`, `snapshot`, `resync` and `change` with a revision.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use pollpush_shared::{ClientMessage, Revision};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

/// What every subscriber saw, added up.
#[derive(Debug)]
pub struct Tally {
    reconnects: AtomicU64,
    received: AtomicU64,
    resyncs: AtomicU64,
    gaps: AtomicU64,
    duplicates: AtomicU64,
    /// Commit-to-arrival of live changes at the fast subscribers, in µs, since the last sample.
    latency: Mutex<Histogram<u64>>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            reconnects: AtomicU64::new(0),
            received: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new(3).unwrap_or_else(|_| unreachable!("3 is valid"))),
        }
    }
}

impl Tally {
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Relaxed)
    }
    pub fn received(&self) -> u64 {
        self.received.load(Relaxed)
    }
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Relaxed)
    }
    pub fn gaps(&self) -> u64 {
        self.gaps.load(Relaxed)
    }
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Relaxed)
    }

    /// p50 and p99 in ms since the last call, and starts a new window.
    pub fn take_latency(&self) -> (f64, f64) {
        let mut h = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = (
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
        );
        h.reset();
        out
    }

    fn record(&self, micros: u64) {
        let mut h = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = h.record(micros.max(1));
    }
}

/// A message of either room, read for what the soak checks: its type, its
/// revision, and when its change was made (a species change's `at`, or a
/// feed item's `updated_at` in Unix milliseconds, as `changing_upstream`
/// stamps its items).
#[derive(Debug, Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    revision: Option<Revision>,
    at: Option<DateTime<Utc>>,
    item: Option<serde_json::Value>,
}

impl Incoming {
    fn made_at(&self) -> Option<DateTime<Utc>> {
        self.at.or_else(|| {
            let ms = self.item.as_ref()?.get("updated_at")?.as_i64()?;
            DateTime::from_timestamp_millis(ms)
        })
    }
}

/// Where one subscriber stands in the feed.
struct Position {
    last: Option<Revision>,
    /// Changes after this revision are live (not replayed).
    live_after: Revision,
}

pub async fn run(
    url: String,
    room: String,
    slow: Option<u32>,
    tally: std::sync::Arc<Tally>,
    seed: u64,
    deadline: Instant,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pos = Position {
        last: None,
        live_after: u64::MAX,
    };
    let mut round = 0u64;
    while Instant::now() < deadline {
        let hold = Duration::from_millis(rng.random_range(500..4000));
        let abrupt = round % 2 == seed % 2;
        round += 1;
        if let Err(e) = once(&url, &room, slow, &tally, &mut pos, hold, abrupt).await {
            eprintln!("subscriber {seed}: {e}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tally.reconnects.fetch_add(1, Relaxed);
    }
}

async fn once(
    url: &str,
    room: &str,
    slow: Option<u32>,
    tally: &Tally,
    pos: &mut Position,
    hold: Duration,
    abrupt: bool,
) -> anyhow::Result<()> {
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let socket = tokio::net::TcpSocket::new_v4()?;
    if slow.is_some() {
        // A small window, so a slow reader pushes back on the server soon.
        socket.set_recv_buffer_size(16 * 1024)?;
    }
    let tcp = socket.connect(addr.parse()?).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    let subscribe = ClientMessage::Subscribe {
        room: room.to_owned(),
        since: pos.last,
    };
    ws.send(Message::text(serde_json::to_string(&subscribe)?))
        .await?;
    let until = tokio::time::Instant::now() + hold;
    let pause = slow.map(|rate| Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            () = tokio::time::sleep_until(until) => break,
        };
        let Some(msg) = msg else {
            anyhow::bail!("closed by the server")
        };
        let Message::Text(text) = msg? else { continue };
        let msg: Incoming = serde_json::from_str(&text)?;
        let revision = msg.revision.unwrap_or_default();
        match msg.kind.as_str() {
            "subscribed" => pos.live_after = revision,
            "snapshot" => pos.last = Some(revision),
            "resync" => {
                tally.resyncs.fetch_add(1, Relaxed);
            }
            "change" => {
                tally.received.fetch_add(1, Relaxed);
                if let Some(last) = pos.last {
                    if revision <= last {
                        tally.duplicates.fetch_add(1, Relaxed);
                        continue;
                    }
                    if revision > last + 1 {
                        tally.gaps.fetch_add(1, Relaxed);
                    }
                }
                pos.last = Some(revision);
                if let (None, true, Some(at)) = (slow, revision > pos.live_after, msg.made_at()) {
                    let age = pollpush_shared::time::now() - at;
                    tally.record(age.num_microseconds().unwrap_or(0).max(0) as u64);
                }
            }
            _ => {}
        }
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
    }
    if !abrupt {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    Ok(())
}
