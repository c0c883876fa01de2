//! The client's whole state and the one place it changes: [`App::update`].
//!
//! `update` is pure: it reads the time from the event, never from a clock, and
//! asks for side effects by returning an [`Effect`] the caller performs. The TUI
//! renders this state; a headless run reports it.

pub mod advance;
pub mod clock;
pub mod feed;
mod keys;
pub mod nodes;
pub mod pane;
pub mod server_load;
pub mod settings;
pub mod staleness;
pub mod watch;

use chrono::{DateTime, TimeDelta, Utc};
use pollpush_shared::{Revision, ServerMessage};

use crate::event::{Event, LaneEvent, LaneUpdate};
use crate::lane::LaneKind;
pub use clock::{Clock, ClockSource};
use pane::PaneState;
pub use server_load::ServerLoad;
use settings::PollSettings;
use staleness::ChangeTimes;

/// How long a notice stays in the footer.
const NOTICE: TimeDelta = TimeDelta::seconds(4);

/// Where the server runs, which decides the clock and the simulator keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// In this process: same clock, simulator under our control at this rate.
    Embedded { simulate: f64 },
    /// Elsewhere: the clock offset must be estimated.
    Remote,
}

/// A side effect `update` asks for; the caller performs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    /// Hand these settings to the poller.
    ApplyPollSettings(PollSettings),
    /// Make one change through REST now.
    WriteNow,
    /// Set the embedded simulator's rate (changes per second).
    SetSimulatorRate(f64),
}

/// How the screen arranges the lanes; the `v` key cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// A pane per lane where they fit, else the scoreboard.
    #[default]
    Auto,
    /// A pane per lane, however small.
    Panes,
    /// One row per lane and the freshest lane's table.
    Scoreboard,
}

/// Everything the client knows.
#[derive(Debug, Clone)]
pub struct App {
    pub mode: Mode,
    /// The labels of the nodes `--server` named (one for a single server).
    pub nodes: Vec<String>,
    /// One pane per lane, in [`LaneKind`] order.
    pub lanes: Vec<PaneState>,
    pub poll_settings: PollSettings,
    pub changes: ChangeTimes,
    pub clock: Clock,
    pub server: ServerLoad,
    /// The newest revision the server is known to have.
    pub server_revision: Option<Revision>,
    /// Local time of the newest event: what "now" means when rendering.
    pub now: DateTime<Utc>,
    pub notice: Option<(DateTime<Utc>, String)>,
    pub help: bool,
    pub view: View,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    /// Certificates are not checked (`--insecure`): the header says so in red.
    pub insecure: bool,
    /// When each lane first showed each item (`--id-field`, `--version-field`).
    pub items: watch::ItemTimes,
    /// Lines the watched panes' payloads are scrolled down by (↑ ↓ PgUp PgDn Home).
    pub scroll: usize,
    /// The upstream feed the panes watch (`--feed NAME`), instead of the species.
    pub feed: Option<String>,
    /// `--time-field` with `--feed`: where a feed's item says when it changed.
    pub feed_time: Option<String>,
}

impl App {
    /// The talk's two lanes, polling and WebSocket; see [`App::with_lanes`].
    pub fn new(mode: Mode, poll_settings: PollSettings, now: DateTime<Utc>) -> Self {
        let source = match mode {
            Mode::Embedded { .. } => ClockSource::SameProcess,
            Mode::Remote => ClockSource::Unknown,
        };
        Self {
            mode,
            nodes: Vec::new(),
            lanes: LaneKind::DEFAULT.map(PaneState::new).to_vec(),
            poll_settings,
            changes: ChangeTimes::default(),
            clock: Clock {
                offset: TimeDelta::zero(),
                source,
            },
            server: ServerLoad::default(),
            server_revision: None,
            now,
            notice: None,
            help: false,
            view: View::Auto,
            dirty: true,
            insecure: false,
            items: watch::ItemTimes::default(),
            scroll: 0,
            feed: None,
            feed_time: None,
        }
    }

    /// Whether every lane watches a service that is not a pollpush server.
    pub fn watching(&self) -> bool {
        !self.lanes.is_empty() && self.lanes.iter().all(|p| p.kind.watched())
    }

    /// Shows these lanes (in [`LaneKind`] order) instead of the default two.
    pub fn with_lanes(mut self, kinds: &[LaneKind]) -> Self {
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        self.lanes = kinds.into_iter().map(PaneState::new).collect();
        self.name_request_nodes();
        self
    }

    /// Names the nodes the producers use, in `--server` order.
    pub fn with_nodes(mut self, labels: Vec<String>) -> Self {
        self.nodes = labels;
        self.name_request_nodes();
        self
    }

    /// Request lanes stay on the first node; streaming lanes say where they connect.
    fn name_request_nodes(&mut self) {
        let first = self.nodes.get(nodes::POLL_NODE).cloned();
        // A watched URL is named in the header, not as a node.
        let request_lanes = |p: &&mut PaneState| !p.kind.streaming() && !p.kind.watched();
        for pane in self.lanes.iter_mut().filter(request_lanes) {
            pane.node.clone_from(&first);
        }
    }

    /// Whether the panes talk to several nodes, so each shows its own.
    pub fn clustered(&self) -> bool {
        self.nodes.len() > 1
    }

    /// The simulator rate, when the simulator is ours to drive.
    pub fn simulator_rate(&self) -> Option<f64> {
        match self.mode {
            Mode::Embedded { simulate } => Some(simulate),
            Mode::Remote => None,
        }
    }

    /// The pane of lane `kind`, when that lane runs.
    pub fn lane(&self, kind: LaneKind) -> Option<&PaneState> {
        self.lanes.iter().find(|p| p.kind == kind)
    }

    /// The lane that shows the newest revision, the least stale of those.
    pub fn freshest(&self) -> Option<&PaneState> {
        self.lanes
            .iter()
            .filter(|p| p.revision.is_some())
            .max_by_key(|p| (p.revision, std::cmp::Reverse(p.staleness.now)))
            .or_else(|| self.lanes.first())
    }

    /// Applies one event. Pure: no I/O, no clock.
    pub fn update(&mut self, event: Event) -> Option<Effect> {
        match event {
            Event::Key(key) => {
                self.dirty = true;
                self.on_key(key)
            }
            Event::Resize => {
                self.dirty = true;
                None
            }
            Event::Tick { at } => {
                self.on_tick(at);
                None
            }
            Event::Lane(event) => {
                self.on_lane(event);
                None
            }
            Event::Stats { at, node, result } => {
                self.now = self.now.max(at);
                match result {
                    Ok(stats) => {
                        if let Some(revision) = self.watched_revision(&stats) {
                            self.see_revision(revision);
                        }
                        self.server.record(node, *stats);
                    }
                    Err(error) => self.server.error = Some(error),
                }
                self.dirty = true;
                None
            }
            Event::Notice { at, text } => {
                self.now = self.now.max(at);
                self.notice = Some((at, text));
                self.dirty = true;
                None
            }
        }
    }

    fn see_revision(&mut self, revision: Revision) {
        self.server_revision = Some(self.server_revision.map_or(revision, |r| r.max(revision)));
    }

    /// What a tick can change on screen: every lane's staleness and row count.
    fn tick_view(&self) -> Vec<(std::time::Duration, usize)> {
        self.lanes
            .iter()
            .map(|p| (p.staleness.now, p.rows.len()))
            .collect()
    }

    fn on_tick(&mut self, at: DateTime<Utc>) {
        let before = self.tick_view();
        let second_rolled = at.timestamp() != self.now.timestamp();
        self.now = self.now.max(at);
        let server_now = self.clock.server_now(at);
        for pane in &mut self.lanes {
            pane.tick(at, server_now, &self.changes);
        }
        if self
            .notice
            .as_ref()
            .is_some_and(|(when, _)| at - *when > NOTICE)
        {
            self.notice = None;
            self.dirty = true;
        }
        let highlights = self.lanes.iter().any(|p| {
            p.rows.values().any(|r| {
                r.changed_at
                    .is_some_and(|c| at - c < pane::HIGHLIGHT + TimeDelta::milliseconds(200))
            })
        });
        self.dirty |= second_rolled || before != self.tick_view() || highlights;
    }

    /// One lane's event, whichever the lane: the same rules measure them all.
    fn on_lane(&mut self, event: LaneEvent) {
        let LaneEvent {
            lane,
            at,
            traffic,
            update,
            ..
        } = event;
        self.now = self.now.max(at);
        self.dirty = true;
        let Some(index) = self.lanes.iter().position(|p| p.kind == lane) else {
            return;
        };
        self.lanes[index].set_traffic(traffic);
        match update {
            LaneUpdate::Connected { node, .. } => self.lanes[index].connected_to(node),
            LaneUpdate::Failed {
                error,
                retry_in,
                next_node,
            } => {
                let pane = &mut self.lanes[index];
                pane.failed(at, error, retry_in);
                pane.next_node = next_node;
            }
            LaneUpdate::List {
                revision,
                species,
                server_date,
                etag: _,
            } => {
                self.answered(index, at, server_date, Some(revision));
                // Estimate when this revision happened if a stream has not told us exactly.
                if let Some(newest) = species.iter().map(|s| s.updated_at).max() {
                    self.changes.insert(revision, newest);
                }
                let server_now = self.clock.server_now(at);
                self.lanes[index].apply_list(at, server_now, revision, species, &self.changes);
            }
            LaneUpdate::NotModified {
                revision,
                server_date,
            } => {
                self.answered(index, at, server_date, revision);
                self.lanes[index].counters.not_modified += 1;
            }
            LaneUpdate::Message(message) => {
                let pane = &mut self.lanes[index];
                pane.counters.messages += 1;
                pane.last_heard = Some(at);
                self.on_message(index, at, message);
            }
            LaneUpdate::Payload(payload) => self.on_payload(index, at, payload),
            LaneUpdate::FeedList {
                revision,
                items,
                server_date,
                etag: _,
            } => self.on_feed_list(index, at, revision, items, server_date),
            LaneUpdate::Feed(message) => self.on_feed_message(index, at, message),
        }
    }

    /// An HTTP answer (200 or 304) on lane `index`.
    fn answered(
        &mut self,
        index: usize,
        at: DateTime<Utc>,
        server_date: Option<DateTime<Utc>>,
        revision: Option<Revision>,
    ) {
        if let Some(date) = server_date {
            self.clock.adopt_date(date, at);
        }
        if let Some(revision) = revision {
            self.see_revision(revision);
        }
        let pane = &mut self.lanes[index];
        pane.counters.requests += 1;
        pane.last_heard = Some(at);
        if pane.link != pane::Link::Live {
            pane.connected();
        }
    }

    fn on_message(&mut self, index: usize, at: DateTime<Utc>, message: ServerMessage) {
        match message {
            ServerMessage::Hello {
                revision,
                server_time,
                ..
            } => {
                self.clock.adopt_hello(server_time, at);
                // The species' revision: a feed's comes with `subscribed`.
                if self.feed.is_none() {
                    self.see_revision(revision);
                }
            }
            ServerMessage::Subscribed { revision, .. } => self.see_revision(revision),
            ServerMessage::Snapshot {
                revision, species, ..
            } => {
                self.see_revision(revision);
                let server_now = self.clock.server_now(at);
                self.lanes[index].apply_list(at, server_now, revision, species, &self.changes);
            }
            ServerMessage::Change(change) => {
                self.see_revision(change.revision);
                self.changes.insert_exact(change.revision, change.at);
                let server_now = self.clock.server_now(at);
                self.lanes[index].apply_change(at, server_now, change, &self.changes);
            }
            ServerMessage::Resync { revision } => {
                self.see_revision(revision);
                self.lanes[index].counters.resyncs += 1;
            }
            ServerMessage::Error { code, message } => {
                self.lanes[index].counters.errors += 1;
                self.notice = Some((at, format!("server: {code}: {message}")));
            }
            ServerMessage::Unsubscribed { .. }
            | ServerMessage::Event { .. }
            | ServerMessage::Ack { .. } => {}
        }
    }
}

/// For tests and snapshots: a lane that must be running.
impl std::ops::Index<LaneKind> for App {
    type Output = PaneState;

    fn index(&self, kind: LaneKind) -> &PaneState {
        self.lane(kind)
            .unwrap_or_else(|| panic!("lane {} is not running", kind.name()))
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
