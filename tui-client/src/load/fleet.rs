//! The load clients: N of the TUI's pollers and M of its subscribers (the same
//! [`net::poll`] and [`net::push`] code), each reporting to a light sink that
//! updates its protocol's shared counters instead of an event channel.
//!
//! Against several nodes, client `i` of each protocol talks to node `i mod
//! nodes` (a subscriber moves on to the next node if its own drops it).
//!
//! One extra, uncounted subscriber (the observer) learns every change's commit
//! time, so a poller's staleness and latency can be measured even when no
//! counted subscriber runs.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pollpush_shared::ServerMessage;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::protocol::{Protocol, lock};
use crate::app::nodes;
use crate::app::settings::PollSettings;
use crate::app::staleness::ChangeTimes;
use crate::event::{PollEvent, PollOutcome, PushEvent, PushKind};
use crate::net::counting::Traffic;
use crate::net::{Nodes, Sink, poll, push};

/// One poller's sink.
struct PollClient {
    id: usize,
    protocol: Arc<Protocol>,
}

impl Sink<PollEvent> for PollClient {
    fn deliver(&mut self, event: PollEvent) -> impl Future<Output = bool> + Send {
        let p = &self.protocol;
        match event.outcome {
            PollOutcome::Fresh { revision, .. } => {
                p.requests.fetch_add(1, Relaxed);
                if let Some(from) = p.advance(self.id, revision) {
                    lock(&p.deliveries).push((from, revision, event.at));
                }
            }
            PollOutcome::NotModified { .. } => {
                p.requests.fetch_add(1, Relaxed);
                p.not_modified.fetch_add(1, Relaxed);
            }
            PollOutcome::Failed { error, .. } => p.failed(error),
        }
        std::future::ready(true)
    }
}

/// One subscriber's sink.
struct PushClient {
    id: usize,
    protocol: Arc<Protocol>,
    connected_before: bool,
}

impl Sink<PushEvent> for PushClient {
    fn deliver(&mut self, event: PushEvent) -> impl Future<Output = bool> + Send {
        let p = &self.protocol;
        match event.kind {
            PushKind::Connected { .. } => {
                if self.connected_before {
                    p.reconnects.fetch_add(1, Relaxed);
                }
                self.connected_before = true;
            }
            PushKind::Message(message) => {
                p.messages.fetch_add(1, Relaxed);
                match message {
                    ServerMessage::Snapshot { revision, .. } => {
                        p.advance(self.id, revision);
                    }
                    ServerMessage::Change(change)
                        if p.advance(self.id, change.revision).is_some() =>
                    {
                        let latency = (event.at - change.at).to_std().unwrap_or_default();
                        lock(&p.latency).sample(latency);
                    }
                    _ => {}
                }
            }
            PushKind::Disconnected { error, .. } => p.failed(error),
        }
        std::future::ready(true)
    }
}

/// The uncounted subscriber that learns every commit time.
struct Observer {
    times: Arc<Mutex<ChangeTimes>>,
    ready: Arc<AtomicUsize>,
}

impl Sink<PushEvent> for Observer {
    fn deliver(&mut self, event: PushEvent) -> impl Future<Output = bool> + Send {
        match event.kind {
            PushKind::Message(ServerMessage::Change(change)) => {
                lock(&self.times).insert_exact(change.revision, change.at);
            }
            PushKind::Message(ServerMessage::Snapshot { .. }) => {
                self.ready.store(1, Relaxed);
            }
            _ => {}
        }
        std::future::ready(true)
    }
}

/// How many clients start before the ramp waits for them to connect.
const BATCH: usize = 500;
/// How long one batch may take to connect.
const BATCH_DEADLINE: Duration = Duration::from_secs(20);

/// The running clients of both protocols; dropping it stops them.
pub struct Fleet {
    nodes: Nodes,
    pub rest: Arc<Protocol>,
    pub ws: Arc<Protocol>,
    pub times: Arc<Mutex<ChangeTimes>>,
    settings: watch::Sender<PollSettings>,
    tasks: JoinSet<()>,
}

/// Why the clients could not all be started.
#[derive(Debug, thiserror::Error)]
#[error("only {ready} of {wanted} {what} connected within {waited:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
pub struct RampError {
    pub what: &'static str,
    pub ready: usize,
    pub wanted: usize,
    pub waited: Duration,
    pub last_error: Option<String>,
}

impl Fleet {
    /// Starts the observer and the sampler; no counted client yet.
    pub async fn start(
        nodes: &Nodes,
        pollers: usize,
        subscribers: usize,
        poll_settings: PollSettings,
    ) -> Result<Self, RampError> {
        let (settings, _) = watch::channel(poll_settings);
        let mut fleet = Self {
            nodes: nodes.clone(),
            rest: Arc::new(Protocol::new(pollers)),
            ws: Arc::new(Protocol::new(subscribers)),
            times: Arc::new(Mutex::new(ChangeTimes::default())),
            settings,
            tasks: JoinSet::new(),
        };
        let ready = Arc::new(AtomicUsize::new(0));
        let observer = Observer {
            times: fleet.times.clone(),
            ready: ready.clone(),
        };
        let uncounted = Arc::new(Traffic::default());
        fleet
            .tasks
            .spawn(push::run(nodes.clone(), 0, uncounted, observer));
        let deadline = Duration::from_secs(10);
        if !wait_for(|| ready.load(Relaxed) == 1, deadline).await {
            return Err(RampError {
                what: "observer subscribers",
                ready: 0,
                wanted: 1,
                waited: deadline,
                last_error: None,
            });
        }
        fleet.tasks.spawn(sample(
            [fleet.rest.clone(), fleet.ws.clone()],
            fleet.times.clone(),
        ));
        Ok(fleet)
    }

    /// Connects every subscriber, a batch at a time, waiting for each batch's snapshot.
    pub async fn connect_subscribers(
        &mut self,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(), RampError> {
        let wanted = self.ws.clients();
        for start in (0..wanted).step_by(BATCH) {
            let end = (start + BATCH).min(wanted);
            for id in start..end {
                let sink = PushClient {
                    id,
                    protocol: self.ws.clone(),
                    connected_before: false,
                };
                let traffic = self.ws.traffic.clone();
                let node = nodes::for_client(id, self.nodes.len());
                self.tasks
                    .spawn(push::run(self.nodes.clone(), node, traffic, sink));
            }
            self.ramp_wait(&self.ws, "subscribers", end, BATCH_DEADLINE)
                .await?;
            progress(end, wanted);
        }
        Ok(())
    }

    /// Starts every poller, their first polls spread evenly over one interval
    /// (real pollers are not in step), and waits for each one's first answer.
    pub async fn connect_pollers(&mut self) -> Result<(), RampError> {
        let wanted = self.rest.clients();
        let interval = self.settings.borrow().interval;
        for id in 0..wanted {
            let offset = interval.mul_f64(id as f64 / wanted as f64);
            let sink = PollClient {
                id,
                protocol: self.rest.clone(),
            };
            let node = self.nodes.get(nodes::for_client(id, self.nodes.len()));
            let (endpoints, settings) = (node.clone(), self.settings.subscribe());
            let traffic = self.rest.traffic.clone();
            self.tasks.spawn(async move {
                tokio::time::sleep(offset).await;
                poll::run(endpoints, settings, traffic, sink).await;
            });
        }
        let deadline = interval + BATCH_DEADLINE + Duration::from_millis(wanted as u64 * 10);
        self.ramp_wait(&self.rest, "pollers", wanted, deadline)
            .await
    }

    async fn ramp_wait(
        &self,
        protocol: &Protocol,
        what: &'static str,
        wanted: usize,
        deadline: Duration,
    ) -> Result<(), RampError> {
        if wait_for(|| protocol.ready.load(Relaxed) >= wanted, deadline).await {
            return Ok(());
        }
        Err(RampError {
            what,
            ready: protocol.ready.load(Relaxed),
            wanted,
            waited: deadline,
            last_error: lock(&protocol.last_error).clone(),
        })
    }

    /// Stops every client and waits until they are gone.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

/// Polls `done` every 20 ms until it holds or `within` passes.
async fn wait_for(done: impl Fn() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// How often every client's staleness is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

async fn sample(protocols: [Arc<Protocol>; 2], times: Arc<Mutex<ChangeTimes>>) {
    let mut interval = tokio::time::interval(SAMPLE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let now = pollpush_shared::time::now();
        let times = lock(&times);
        for protocol in &protocols {
            protocol.sample(&times, now);
        }
    }
}
