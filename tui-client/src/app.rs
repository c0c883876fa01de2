//! The client's whole state and the one place it changes: [`App::update`].
//!
//! `update` is pure: it reads the time from the event, never from a clock, and
//! asks for side effects by returning an [`Effect`] the caller performs. The TUI
//! renders this state; a headless run reports it.

pub mod advance;
pub mod clock;
pub mod nodes;
pub mod pane;
pub mod server_load;
pub mod settings;
pub mod staleness;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use pollpush_shared::{Revision, ServerMessage};

use crate::app::settings::PollSettings;
use crate::event::{Event, PollEvent, PollOutcome, PushEvent, PushKind};
pub use clock::{Clock, ClockSource};
use pane::{PaneKind, PaneState};
pub use server_load::ServerLoad;
use staleness::ChangeTimes;

/// Polling periods `+`/`-` step through.
const INTERVALS_MS: [u64; 11] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 60_000,
];
/// Simulator rates `s`/`S` step through, in changes per second.
const SIM_RATES: [f64; 10] = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0];
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

/// Everything the client knows.
#[derive(Debug, Clone)]
pub struct App {
    pub mode: Mode,
    /// The labels of the nodes `--server` named (one for a single server).
    pub nodes: Vec<String>,
    pub poll: PaneState,
    pub push: PaneState,
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
    /// Something visible changed since the last draw.
    pub dirty: bool,
}

impl App {
    pub fn new(mode: Mode, poll_settings: PollSettings, now: DateTime<Utc>) -> Self {
        let source = match mode {
            Mode::Embedded { .. } => ClockSource::SameProcess,
            Mode::Remote => ClockSource::Unknown,
        };
        Self {
            mode,
            nodes: Vec::new(),
            poll: PaneState::new(PaneKind::Poll),
            push: PaneState::new(PaneKind::Push),
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
            dirty: true,
        }
    }

    /// Names the nodes the producers use, in `--server` order; the poll pane's is the first.
    pub fn with_nodes(mut self, labels: Vec<String>) -> Self {
        self.poll.node = labels.get(nodes::POLL_NODE).cloned();
        self.nodes = labels;
        self
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
            Event::Poll(poll) => {
                self.on_poll(poll);
                None
            }
            Event::Push(push) => {
                self.on_push(push);
                None
            }
            Event::Stats { at, node, result } => {
                self.now = self.now.max(at);
                match result {
                    Ok(stats) => {
                        self.see_revision(stats.revision);
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

    fn on_tick(&mut self, at: DateTime<Utc>) {
        let before = (
            self.poll.staleness.now,
            self.push.staleness.now,
            self.poll.rows.len() + self.push.rows.len(),
        );
        let second_rolled = at.timestamp() != self.now.timestamp();
        self.now = self.now.max(at);
        let server_now = self.clock.server_now(at);
        self.poll.tick(at, server_now, &self.changes);
        self.push.tick(at, server_now, &self.changes);
        if self
            .notice
            .as_ref()
            .is_some_and(|(when, _)| at - *when > NOTICE)
        {
            self.notice = None;
            self.dirty = true;
        }
        let after = (
            self.poll.staleness.now,
            self.push.staleness.now,
            self.poll.rows.len() + self.push.rows.len(),
        );
        let highlights = [&self.poll, &self.push].iter().any(|p| {
            p.rows.values().any(|r| {
                r.changed_at
                    .is_some_and(|c| at - c < pane::HIGHLIGHT + TimeDelta::milliseconds(200))
            })
        });
        self.dirty |= second_rolled || before != after || highlights;
    }

    fn on_poll(&mut self, event: PollEvent) {
        let PollEvent {
            at,
            traffic,
            outcome,
        } = event;
        self.now = self.now.max(at);
        self.dirty = true;
        self.poll.set_traffic(traffic);
        match outcome {
            PollOutcome::Fresh {
                revision,
                species,
                server_date,
                etag: _,
            } => {
                if let Some(date) = server_date {
                    self.clock.adopt_date(date, at);
                }
                self.poll_answered(at);
                self.see_revision(revision);
                // Estimate when this revision happened if push has not told us exactly.
                if let Some(newest) = species.iter().map(|s| s.updated_at).max() {
                    self.changes.insert(revision, newest);
                }
                let server_now = self.clock.server_now(at);
                self.poll
                    .apply_list(at, server_now, revision, species, &self.changes);
            }
            PollOutcome::NotModified {
                revision,
                server_date,
            } => {
                if let Some(date) = server_date {
                    self.clock.adopt_date(date, at);
                }
                self.poll_answered(at);
                self.poll.counters.not_modified += 1;
                if let Some(revision) = revision {
                    self.see_revision(revision);
                }
            }
            PollOutcome::Failed { error, retry_in } => self.poll.failed(at, error, retry_in),
        }
    }

    fn poll_answered(&mut self, at: DateTime<Utc>) {
        self.poll.counters.requests += 1;
        self.poll.last_heard = Some(at);
        if self.poll.link != pane::Link::Live {
            self.poll.connected();
        }
    }

    fn on_push(&mut self, event: PushEvent) {
        let PushEvent { at, traffic, kind } = event;
        self.now = self.now.max(at);
        self.dirty = true;
        self.push.set_traffic(traffic);
        match kind {
            PushKind::Connected { node, .. } => self.push.connected_to(node),
            PushKind::Disconnected {
                error,
                retry_in,
                next_node,
            } => {
                self.push.failed(at, error, retry_in);
                self.push.next_node = Some(next_node);
            }
            PushKind::Message(message) => {
                self.push.counters.messages += 1;
                self.push.last_heard = Some(at);
                self.on_message(at, message);
            }
        }
    }

    fn on_message(&mut self, at: DateTime<Utc>, message: ServerMessage) {
        match message {
            ServerMessage::Hello {
                revision,
                server_time,
                ..
            } => {
                self.clock.adopt_hello(server_time, at);
                self.see_revision(revision);
            }
            ServerMessage::Subscribed { revision, .. } => self.see_revision(revision),
            ServerMessage::Snapshot {
                revision, species, ..
            } => {
                self.see_revision(revision);
                let server_now = self.clock.server_now(at);
                self.push
                    .apply_list(at, server_now, revision, species, &self.changes);
            }
            ServerMessage::Change(change) => {
                self.see_revision(change.revision);
                self.changes.insert_exact(change.revision, change.at);
                let server_now = self.clock.server_now(at);
                self.push
                    .apply_change(at, server_now, change, &self.changes);
            }
            ServerMessage::Resync { revision } => {
                self.see_revision(revision);
                self.push.counters.resyncs += 1;
            }
            ServerMessage::Error { code, message } => {
                self.push.counters.errors += 1;
                self.notice = Some((at, format!("server: {code}: {message}")));
            }
            ServerMessage::Unsubscribed { .. }
            | ServerMessage::Event { .. }
            | ServerMessage::Ack { .. } => {}
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc if self.help => {
                self.help = false;
                None
            }
            KeyCode::Char('c') if ctrl => Some(Effect::Quit),
            KeyCode::Char('q') | KeyCode::Esc => Some(Effect::Quit),
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.help = !self.help;
                None
            }
            KeyCode::Char('+' | '=') => self.step_interval(true),
            KeyCode::Char('-' | '_') => self.step_interval(false),
            KeyCode::Char('p') => {
                self.poll_settings.paused = !self.poll_settings.paused;
                Some(Effect::ApplyPollSettings(self.poll_settings))
            }
            KeyCode::Char('e') => {
                self.poll_settings.etag = !self.poll_settings.etag;
                Some(Effect::ApplyPollSettings(self.poll_settings))
            }
            KeyCode::Char('n') => Some(Effect::WriteNow),
            KeyCode::Char('s') => self.step_simulator(false),
            KeyCode::Char('S') => self.step_simulator(true),
            KeyCode::Char('r') => {
                self.poll.reset();
                self.push.reset();
                self.notice = Some((self.now, "counters reset".into()));
                None
            }
            _ => None,
        }
    }

    fn step_interval(&mut self, longer: bool) -> Option<Effect> {
        let current = self.poll_settings.interval.as_millis() as u64;
        let next = if longer {
            INTERVALS_MS.iter().copied().find(|&ms| ms > current)
        } else {
            INTERVALS_MS.iter().rev().copied().find(|&ms| ms < current)
        }?;
        self.poll_settings.interval = Duration::from_millis(next);
        Some(Effect::ApplyPollSettings(self.poll_settings))
    }

    fn step_simulator(&mut self, up: bool) -> Option<Effect> {
        let Mode::Embedded { simulate } = self.mode else {
            return None;
        };
        let next = if up {
            SIM_RATES.iter().copied().find(|&r| r > simulate)
        } else {
            SIM_RATES.iter().rev().copied().find(|&r| r < simulate)
        }?;
        self.mode = Mode::Embedded { simulate: next };
        Some(Effect::SetSimulatorRate(next))
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
