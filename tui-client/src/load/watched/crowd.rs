//! What the load clients of one watched lane saw, together: each client's
//! sink adds to its lane's shared counters. A push lane also notes when each
//! client got each update, because against a service we do not run, how far
//! apart the same update reaches its subscribers is the one fan-out measure
//! the client side can make.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::app::staleness::Staleness;
use crate::event::{Body, LaneEvent, LaneUpdate, Payload};
use crate::lane::{Exchange, LaneKind};
use crate::load::protocol::lock;
use crate::net::Sink;
use crate::net::counting::Traffic;

/// One update, as every subscriber can name it without the service's help:
/// the hash of its event name and text, and which occurrence of that text it
/// is (a feed may send the same text twice; the n-th matches the n-th).
type UpdateKey = (u64, u32);

/// When the subscribers got one update.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    subscribers: usize,
}

/// The shared counters of one lane's clients.
#[derive(Debug)]
pub struct Crowd {
    pub kind: LaneKind,
    pub clients: usize,
    pub traffic: Arc<Traffic>,
    /// Clients that connected (a push handshake, a poll answered) at least once.
    pub connected: AtomicUsize,
    pub requests: AtomicU64,
    pub messages: AtomicU64,
    /// New bodies (pollers) or messages (push), summed over clients.
    pub updates: AtomicU64,
    pub errors: AtomicU64,
    pub reconnects: AtomicU64,
    /// Some answer said it came from a pollpush server.
    pub pollpush: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    /// How long each poll took, connecting included.
    pub request_time: Mutex<Staleness>,
    /// Each update's delay on arrival (`--time-field`), and how many there were.
    delay: Mutex<(Staleness, u64)>,
    arrivals: Mutex<HashMap<UpdateKey, Arrival>>,
}

/// How the same updates spread over a push lane's subscribers.
#[derive(Debug)]
pub struct Spread {
    /// Different updates seen by any subscriber.
    pub distinct: u64,
    /// Updates every connected subscriber got.
    pub to_every_subscriber: u64,
    /// Updates two or more subscribers got: what the spread is measured on.
    pub matched: u64,
    /// First to last subscriber getting it, for the matched updates.
    pub first_to_last: Staleness,
}

impl Crowd {
    pub fn new(kind: LaneKind, clients: usize) -> Self {
        Self {
            kind,
            clients,
            traffic: Arc::new(Traffic::default()),
            connected: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            pollpush: AtomicBool::new(false),
            last_error: Mutex::new(None),
            request_time: Mutex::new(Staleness::default()),
            delay: Mutex::new((Staleness::default(), 0)),
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    /// The sink of one more client of this lane.
    pub fn member(self: &Arc<Self>) -> Member {
        Member {
            crowd: self.clone(),
            connected: false,
            occurrences: HashMap::new(),
        }
    }

    pub fn all_connected(&self) -> bool {
        self.connected.load(Relaxed) >= self.clients
    }

    /// The spread of every update over the subscribers that got it.
    pub fn spread(&self) -> Spread {
        let arrivals = lock(&self.arrivals);
        let connected = self.connected.load(Relaxed);
        let mut first_to_last = Staleness::default();
        let mut matched = 0;
        for arrival in arrivals.values().filter(|a| a.subscribers >= 2) {
            matched += 1;
            first_to_last.sample((arrival.last - arrival.first).to_std().unwrap_or_default());
        }
        Spread {
            distinct: arrivals.len() as u64,
            to_every_subscriber: arrivals
                .values()
                .filter(|a| a.subscribers >= connected)
                .count() as u64,
            matched,
            first_to_last,
        }
    }

    /// The updates' delays on arrival, if any had a `--time-field` time.
    pub fn delay(&self) -> Option<crate::load::report::Percentiles> {
        let delay = lock(&self.delay);
        (delay.1 > 0).then(|| crate::load::report::Percentiles::from(&delay.0))
    }

    fn arrived(&self, key: UpdateKey, at: DateTime<Utc>) {
        let mut arrivals = lock(&self.arrivals);
        let arrival = arrivals.entry(key).or_insert(Arrival {
            first: at,
            last: at,
            subscribers: 0,
        });
        arrival.first = arrival.first.min(at);
        arrival.last = arrival.last.max(at);
        arrival.subscribers += 1;
    }
}

/// One load client's sink: the same events as a pane, added to its lane's counters.
pub struct Member {
    crowd: Arc<Crowd>,
    connected: bool,
    /// How many times this client got each text, to tell repeats apart.
    occurrences: HashMap<u64, u32>,
}

impl Member {
    fn connect(&mut self) {
        if self.connected {
            return;
        }
        self.connected = true;
        self.crowd.connected.fetch_add(1, Relaxed);
    }

    fn payload(&mut self, payload: &Payload, at: DateTime<Utc>) {
        let crowd = &self.crowd;
        crowd.updates.fetch_add(1, Relaxed);
        // A poller's first body is the state it started from, not an update.
        let initial = !self.connected && crowd.kind.exchange() == Exchange::Requests;
        if let (Some(Ok(stamp)), false) = (&payload.stamp, initial) {
            let mut delay = lock(&crowd.delay);
            delay.0.sample((at - *stamp).to_std().unwrap_or_default());
            delay.1 += 1;
        }
        if payload.pollpush {
            crowd.pollpush.store(true, Relaxed);
        }
        if crowd.kind.exchange() == Exchange::Requests {
            crowd.requests.fetch_add(1, Relaxed);
            self.connect();
            return;
        }
        crowd.messages.fetch_add(1, Relaxed);
        let text = text_hash(payload);
        let occurrence = self.occurrences.entry(text).or_default();
        *occurrence += 1;
        crowd.arrived((text, *occurrence), at);
    }
}

fn text_hash(payload: &Payload) -> u64 {
    let mut hasher = DefaultHasher::new();
    payload.name.hash(&mut hasher);
    match &payload.body {
        Body::Json(json) => json.to_string().hash(&mut hasher),
        Body::Text { text, .. } => text.hash(&mut hasher),
    }
    hasher.finish()
}

impl Sink<LaneEvent> for Member {
    fn deliver(&mut self, event: LaneEvent) -> impl Future<Output = bool> + Send {
        if let Some(took) = event.took {
            lock(&self.crowd.request_time).sample(took);
        }
        match &event.update {
            LaneUpdate::Connected { .. } => {
                if self.connected {
                    self.crowd.reconnects.fetch_add(1, Relaxed);
                }
                self.connect();
            }
            LaneUpdate::NotModified { .. } => {
                self.crowd.requests.fetch_add(1, Relaxed);
                self.connect();
            }
            LaneUpdate::Payload(payload) => self.payload(payload, event.at),
            LaneUpdate::Failed { error, .. } => {
                self.crowd.errors.fetch_add(1, Relaxed);
                *lock(&self.crowd.last_error) = Some(error.clone());
            }
            // A pollpush server's lanes; the watch lanes never send these.
            LaneUpdate::List { .. }
            | LaneUpdate::Message(_)
            | LaneUpdate::FeedList { .. }
            | LaneUpdate::Feed(_) => {}
        }
        std::future::ready(true)
    }
}
