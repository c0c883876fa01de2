//! The subscribers: N WebSocket clients in this process, each checking that the
//! revisions it receives are consecutive and stamping when each one arrived.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::dial::{Dial, Stream};
use crate::raw;

/// Every network step of a subscriber must finish within this.
pub const STEP: Duration = Duration::from_secs(30);

/// Arrival times of the benchmark's writes, shared by every subscriber.
pub struct Tracker {
    base: Instant,
    /// The revision every subscriber started from; write `i` is revision `first + 1 + i`.
    first: AtomicU64,
    /// Latest arrival of each write at any subscriber, in ns since `base`.
    last_arrival: Vec<AtomicU64>,
    delivered: Vec<AtomicUsize>,
    /// Revisions that were not the previous one plus one (lost, repeated or reordered).
    pub out_of_order: AtomicU64,
    /// `resync` messages: the server dropped a backlog.
    pub resyncs: AtomicU64,
    /// Subscribers whose connection ended before the run did.
    pub dropped: AtomicU64,
}

impl Tracker {
    pub fn new(writes: usize) -> Self {
        Self {
            base: Instant::now(),
            first: AtomicU64::new(0),
            last_arrival: (0..writes).map(|_| AtomicU64::new(0)).collect(),
            delivered: (0..writes).map(|_| AtomicUsize::new(0)).collect(),
            out_of_order: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since the tracker was made.
    pub fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    pub fn start_at(&self, revision: u64) {
        self.first.store(revision, Relaxed);
    }

    /// Stamps the arrival of `revision` at one subscriber.
    pub fn arrived(&self, revision: u64) {
        let at = self.now();
        let Some(i) = revision.checked_sub(self.first.load(Relaxed) + 1) else {
            return;
        };
        if let (Some(last), Some(count)) = (
            self.last_arrival.get(i as usize),
            self.delivered.get(i as usize),
        ) {
            last.fetch_max(at, Relaxed);
            count.fetch_add(1, Relaxed);
        }
    }

    /// How many subscribers have write `i` so far.
    pub fn delivered(&self, i: usize) -> usize {
        self.delivered[i].load(Relaxed)
    }

    /// When the last subscriber got write `i`, in ns since the tracker was made.
    pub fn last_arrival(&self, i: usize) -> u64 {
        self.last_arrival[i].load(Relaxed)
    }
}

/// N connected subscribers.
pub struct Crowd {
    tasks: JoinSet<anyhow::Result<u64>>,
    stop: watch::Sender<bool>,
    /// The revision every subscriber was subscribed at.
    pub revision: u64,
}

/// Connects `n` `/ws` subscribers, `concurrency` handshakes at a time, all within `deadline`.
pub async fn connect(
    dial: &Dial,
    n: usize,
    concurrency: usize,
    raw: bool,
    tracker: &Arc<Tracker>,
    deadline: Duration,
) -> anyhow::Result<Crowd> {
    spawn(n, concurrency, deadline, |start| {
        let sub = Subscriber {
            dial: dial.clone(),
            tracker: tracker.clone(),
            raw,
        };
        sub.run(start)
    })
    .await
}

/// What each subscriber task is handed: the gate it connects through, where
/// its start revision goes, and the signal that ends the run.
pub struct Start {
    gate: Arc<Semaphore>,
    ready: Option<mpsc::Sender<anyhow::Result<u64>>>,
    pub stop: watch::Receiver<bool>,
}

impl Start {
    /// Runs `connecting` while holding a gate permit, and reports the start
    /// revision it gives (or its error) to the crowd.
    pub async fn connected<T>(
        &mut self,
        connecting: impl Future<Output = anyhow::Result<(T, u64)>>,
    ) -> anyhow::Result<(T, u64)> {
        let permit = self.gate.acquire().await?;
        let started = connecting.await;
        drop(permit);
        let report = match &started {
            Ok((_, revision)) => Ok(*revision),
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(report).await;
        }
        started
    }
}

/// Spawns `n` subscriber tasks made by `subscriber` (any lane), and waits
/// until each has reported the same start revision, within `deadline`.
pub async fn spawn<F>(
    n: usize,
    concurrency: usize,
    deadline: Duration,
    mut subscriber: impl FnMut(Start) -> F,
) -> anyhow::Result<Crowd>
where
    F: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(concurrency));
    let (ready_tx, mut ready) = mpsc::channel(n.max(1));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        tasks.spawn(subscriber(Start {
            gate: gate.clone(),
            ready: Some(ready_tx.clone()),
            stop: stop_rx.clone(),
        }));
    }
    drop(ready_tx);
    let mut revisions = Vec::with_capacity(n);
    let until = tokio::time::Instant::now() + deadline;
    while revisions.len() < n {
        match tokio::time::timeout_at(until, ready.recv()).await {
            Ok(Some(Ok(revision))) => revisions.push(revision),
            Ok(Some(Err(e))) => return Err(e.context("a subscriber failed to connect")),
            Ok(None) => bail!("subscribers ended before connecting"),
            Err(_) => bail!(
                "only {} of {n} subscribers within {deadline:?}",
                revisions.len()
            ),
        }
    }
    let revision = revisions.first().copied().unwrap_or(0);
    anyhow::ensure!(
        revisions.iter().all(|r| *r == revision),
        "subscribers started at different revisions"
    );
    Ok(Crowd {
        tasks,
        stop,
        revision,
    })
}

impl Crowd {
    /// Stops every subscriber; returns how many did not end at `final_revision`.
    pub async fn finish(mut self, final_revision: u64) -> anyhow::Result<usize> {
        let _ = self.stop.send(true);
        let mut behind = 0;
        let until = tokio::time::Instant::now() + STEP;
        while let Some(joined) = tokio::time::timeout_at(until, self.tasks.join_next())
            .await
            .context("subscribers did not stop in time")?
        {
            match joined {
                Ok(Ok(last)) if last == final_revision => {}
                _ => behind += 1,
            }
        }
        Ok(behind)
    }
}

struct Subscriber {
    dial: Dial,
    tracker: Arc<Tracker>,
    raw: bool,
}

impl Subscriber {
    /// Connects and subscribes (through the crowd's gate), reports its start
    /// revision, then reads until stopped; returns its last revision.
    async fn run(self, mut start: Start) -> anyhow::Result<u64> {
        let (mut ws, mut last) = start.connected(self.subscribe()).await?;
        // One long-lived future: `changed()` re-created on every message would put
        // 10,000 clients on the same waiter list per message, and the client, not
        // the server, would set the pace.
        let mut stop = start.stop;
        let mut stopped = std::pin::pin!(async move {
            let _ = stop.changed().await;
        });
        if self.raw {
            let tcp = raw::after_snapshot(ws).await?;
            return raw::read(tcp, &mut stopped, |text| self.on_text(text, &mut last))
                .await
                .inspect_err(|_| {
                    self.tracker.dropped.fetch_add(1, Relaxed);
                })
                .map(|()| last);
        }
        loop {
            tokio::select! {
                () = &mut stopped => return Ok(last),
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_text(&text, &mut last),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        self.tracker.dropped.fetch_add(1, Relaxed);
                        bail!("connection ended early");
                    }
                },
            }
        }
    }

    async fn subscribe(&self) -> anyhow::Result<(Ws, u64)> {
        // A small read buffer: 10,000 clients with tungstenite's default 128 KiB would need 1.3 GB.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let handshake = async {
            let io = self.dial.connect().await?;
            let url = self.dial.ws_url("/ws");
            let (ws, _) = tokio_tungstenite::client_async_with_config(url, io, Some(config))
                .await
                .context("WebSocket handshake")?;
            anyhow::Ok(ws)
        };
        let mut ws = tokio::time::timeout(STEP, handshake)
            .await
            .context("connect timed out")??;
        ws.send(Message::text(r#"{"type":"subscribe","room":"species"}"#))
            .await
            .context("send subscribe")?;
        loop {
            let frame = tokio::time::timeout(STEP, ws.next())
                .await
                .context("no `subscribed` in time")?
                .context("closed before `subscribed`")??;
            if let Message::Text(text) = frame
                && text.contains(r#""type":"subscribed""#)
            {
                let revision = revision_of(&text).context("`subscribed` without a revision")?;
                return Ok((ws, revision));
            }
        }
    }

    fn on_text(&self, text: &str, last: &mut u64) {
        if text.contains(r#""type":"change""#) {
            let Some(revision) = revision_of(text) else {
                self.tracker.out_of_order.fetch_add(1, Relaxed);
                return;
            };
            if revision != *last + 1 {
                self.tracker.out_of_order.fetch_add(1, Relaxed);
            }
            *last = revision;
            self.tracker.arrived(revision);
        } else if text.contains(r#""type":"resync""#) {
            self.tracker.resyncs.fetch_add(1, Relaxed);
        }
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<Stream>;

/// The `"revision":N` of a server message, without parsing the whole frame
/// (10,000 full parses per write would make the client the bottleneck).
fn revision_of(text: &str) -> Option<u64> {
    let start = text.find(r#""revision":"#)? + r#""revision":"#.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}
