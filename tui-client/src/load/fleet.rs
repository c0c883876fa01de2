//! The load clients: N clients of each lane (the same [`net::run_lane`] code
//! as the TUI's), each reporting to a light sink that updates its lane's
//! shared counters instead of an event channel.
//!
//! Against several nodes, client `i` of each lane talks to node `i mod
//! nodes` (a streaming client moves on to the next node if its own drops it).
//!
//! One extra, uncounted WebSocket subscriber (the observer) learns every
//! change's commit time, so a request lane's staleness and latency can be
//! measured even when no counted stream runs.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pollpush_shared::{FeedMessage, ServerMessage};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::protocol::{Protocol, lock};
use crate::app::nodes;
use crate::app::settings::PollSettings;
use crate::app::staleness::ChangeTimes;
use crate::event::{LaneEvent, LaneUpdate};
use crate::lane::{LaneKind, LaneMap};
use crate::net::counting::Traffic;
use crate::net::watch::payload::newest_item_time;
use crate::net::{HttpChoice, LaneConfig, Nodes, Sink, run_lane};

/// One load client's sink, whichever its lane: the same rules as the panes.
struct LaneClient {
    id: usize,
    protocol: Arc<Protocol>,
    connected_before: bool,
}

impl Sink<LaneEvent> for LaneClient {
    fn deliver(&mut self, event: LaneEvent) -> impl Future<Output = bool> + Send {
        let p = &self.protocol;
        match event.update {
            LaneUpdate::List { revision, .. } | LaneUpdate::FeedList { revision, .. } => {
                p.requests.fetch_add(1, Relaxed);
                if let Some(from) = p.advance(self.id, revision) {
                    lock(&p.deliveries).push((from, revision, event.at));
                }
            }
            LaneUpdate::NotModified { .. } => {
                p.requests.fetch_add(1, Relaxed);
                p.not_modified.fetch_add(1, Relaxed);
            }
            // Load clients only run against a pollpush server.
            LaneUpdate::Payload(_) => {}
            LaneUpdate::Connected { .. } => {
                if self.connected_before {
                    p.reconnects.fetch_add(1, Relaxed);
                }
                self.connected_before = true;
            }
            LaneUpdate::Message(message) => {
                p.messages.fetch_add(1, Relaxed);
                match message {
                    ServerMessage::Snapshot { revision, .. } => {
                        p.advance(self.id, revision);
                    }
                    ServerMessage::Change(change)
                        if p.advance(self.id, change.revision).is_some() =>
                    {
                        let latency = (event.at - change.at).to_std().unwrap_or_default();
                        p.delivered(change.revision, latency);
                    }
                    _ => {}
                }
            }
            LaneUpdate::Feed(message) => {
                p.messages.fetch_add(1, Relaxed);
                match message {
                    FeedMessage::Snapshot { revision, .. } => {
                        p.advance(self.id, revision);
                    }
                    // A feed's change carries no time: its latency is resolved
                    // at the end against the observer's ([`Observer`]).
                    FeedMessage::Change(change) => {
                        if let Some(from) = p.advance(self.id, change.revision) {
                            lock(&p.deliveries).push((from, change.revision, event.at));
                        }
                    }
                }
            }
            LaneUpdate::Failed { error, .. } => p.failed(error),
        }
        std::future::ready(true)
    }
}

/// The uncounted subscriber that learns every commit time.
struct Observer {
    times: Arc<Mutex<ChangeTimes>>,
    ready: Arc<AtomicUsize>,
    /// `--time-field`: where a feed's item says when it changed.
    time_field: Option<String>,
}

impl Sink<LaneEvent> for Observer {
    fn deliver(&mut self, event: LaneEvent) -> impl Future<Output = bool> + Send {
        match event.update {
            LaneUpdate::Message(ServerMessage::Change(change)) => {
                lock(&self.times).insert_exact(change.revision, change.at);
            }
            LaneUpdate::Message(ServerMessage::Snapshot { .. })
            | LaneUpdate::Feed(FeedMessage::Snapshot { .. }) => {
                self.ready.store(1, Relaxed);
            }
            // A feed's change was made when the gateway polled, by the
            // upstream's clock when `--time-field` stamps the item, or else
            // as the observer (on loopback, over no emulated link) learnt it.
            LaneUpdate::Feed(FeedMessage::Change(change)) => {
                let stamped = newest_item_time(self.time_field.as_deref(), &change.item);
                lock(&self.times).insert_exact(change.revision, stamped.unwrap_or(event.at));
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

/// The running clients of every lane; dropping it stops them.
pub struct Fleet {
    nodes: Nodes,
    /// Each lane's shared counters, in lane order.
    pub lanes: LaneMap<Arc<Protocol>>,
    pub times: Arc<Mutex<ChangeTimes>>,
    settings: watch::Sender<PollSettings>,
    long_poll_wait: Duration,
    tasks: JoinSet<()>,
}

/// Why the clients could not all be started.
#[derive(Debug, thiserror::Error)]
#[error("only {ready} of {wanted} {what} clients connected within {waited:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
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
        clients: &[(LaneKind, usize)],
        poll_settings: PollSettings,
        long_poll_wait: Duration,
        time_field: Option<String>,
    ) -> Result<Self, RampError> {
        let (settings, _) = watch::channel(poll_settings);
        let lanes = clients
            .iter()
            .map(|&(kind, n)| (kind, Arc::new(Protocol::new(n))))
            .collect();
        let mut fleet = Self {
            nodes: nodes.clone(),
            lanes: LaneMap(lanes),
            times: Arc::new(Mutex::new(ChangeTimes::default())),
            settings,
            long_poll_wait,
            tasks: JoinSet::new(),
        };
        let ready = Arc::new(AtomicUsize::new(0));
        let observer = Observer {
            times: fleet.times.clone(),
            ready: ready.clone(),
            time_field,
        };
        let uncounted = Arc::new(Traffic::default());
        let mut config = fleet.config(0);
        // The observer only reads commit times: it upgrades over HTTP/1.1,
        // which every server offers, whatever --http asks of the measured lanes,
        // and through no emulated link, so it learns of a change at once.
        config.nodes = config
            .nodes
            .with_http(HttpChoice::H1)
            .with_conditions(&crate::net::profile::Profile::default(), None);
        fleet
            .tasks
            .spawn(run_lane(LaneKind::Ws, config, uncounted, observer));
        let deadline = Duration::from_secs(10);
        if !wait_for(|| ready.load(Relaxed) == 1, deadline).await {
            return Err(RampError {
                what: "observer",
                ready: 0,
                wanted: 1,
                waited: deadline,
                last_error: None,
            });
        }
        let protocols = fleet.lanes.values().cloned().collect();
        fleet.tasks.spawn(sample(protocols, fleet.times.clone()));
        Ok(fleet)
    }

    fn config(&self, node: usize) -> LaneConfig {
        LaneConfig {
            nodes: self.nodes.clone(),
            node,
            poll: self.settings.subscribe(),
            long_poll_wait: self.long_poll_wait,
            watch: None,
        }
    }

    fn spawn_client(
        &mut self,
        kind: LaneKind,
        protocol: &Arc<Protocol>,
        id: usize,
        delay: Duration,
    ) {
        let sink = LaneClient {
            id,
            protocol: protocol.clone(),
            connected_before: false,
        };
        let mut config = self.config(nodes::for_client(id, self.nodes.len()));
        // Each client resumes only its own TLS sessions, as separate users
        // would: its first handshake is a full one.
        config.nodes = config.nodes.with_own_sessions();
        let traffic = protocol.traffic.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            run_lane(kind, config, traffic, sink).await;
        });
    }

    /// Connects every client of lane `kind`: pollers have their first polls
    /// spread evenly over one interval (real pollers are not in step); the
    /// other lanes connect a batch at a time, each waited for until it shows
    /// its first revision.
    pub async fn connect(
        &mut self,
        kind: LaneKind,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(), RampError> {
        let Some(protocol) = self
            .lanes
            .0
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.clone())
        else {
            return Ok(());
        };
        let wanted = protocol.clients();
        if kind == LaneKind::Poll {
            let interval = self.settings.borrow().interval;
            for id in 0..wanted {
                let offset = interval.mul_f64(id as f64 / wanted as f64);
                self.spawn_client(kind, &protocol, id, offset);
            }
            let deadline = interval + BATCH_DEADLINE + Duration::from_millis(wanted as u64 * 10);
            return ramp_wait(&protocol, kind, wanted, deadline).await;
        }
        for start in (0..wanted).step_by(BATCH) {
            let end = (start + BATCH).min(wanted);
            for id in start..end {
                self.spawn_client(kind, &protocol, id, Duration::ZERO);
            }
            ramp_wait(&protocol, kind, end, BATCH_DEADLINE).await?;
            progress(end, wanted);
        }
        Ok(())
    }

    /// Stops every client and waits until they are gone.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

async fn ramp_wait(
    protocol: &Protocol,
    kind: LaneKind,
    wanted: usize,
    deadline: Duration,
) -> Result<(), RampError> {
    if wait_for(|| protocol.ready.load(Relaxed) >= wanted, deadline).await {
        return Ok(());
    }
    Err(RampError {
        what: kind.name(),
        ready: protocol.ready.load(Relaxed),
        wanted,
        waited: deadline,
        last_error: lock(&protocol.last_error).clone(),
    })
}

/// Polls `done` every 20 ms until it holds or `within` passes.
pub(super) async fn wait_for(done: impl Fn() -> bool, within: Duration) -> bool {
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

async fn sample(protocols: Vec<Arc<Protocol>>, times: Arc<Mutex<ChangeTimes>>) {
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
