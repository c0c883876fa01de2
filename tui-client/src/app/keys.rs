//! What each key does to the state. Keys that steer polling (`+ - p e`) only
//! apply to the poll lane, and say so when it is not running.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{App, Effect, Mode, View};
use crate::lane::LaneKind;

/// Polling periods `+`/`-` step through.
const INTERVALS_MS: [u64; 11] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 60_000,
];
/// Simulator rates `s`/`S` step through, in changes per second.
const SIM_RATES: [f64; 10] = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0];

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
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
            KeyCode::Char('+' | '=' | '-' | '_' | 'p' | 'e') if !self.polls() => {
                self.notice = Some((
                    self.now,
                    "+ - p e steer the poll lane, which is not running (--lanes poll,…)".into(),
                ));
                None
            }
            // A watched service is only read, never written to.
            KeyCode::Char('n') if self.watching() => {
                self.notice = Some((self.now, "n writes to a pollpush server only".into()));
                None
            }
            // A feed changes upstream, where this client does not write.
            KeyCode::Char('n') if self.feed.is_some() => {
                self.notice = Some((
                    self.now,
                    "n writes species; a --feed changes upstream".into(),
                ));
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
            KeyCode::Char('v') => {
                self.view = match self.view {
                    View::Auto => View::Scoreboard,
                    View::Scoreboard => View::Panes,
                    View::Panes => View::Auto,
                };
                None
            }
            KeyCode::Char('n') => Some(Effect::WriteNow),
            KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown | KeyCode::Home
                if self.watching() =>
            {
                self.scroll = match key.code {
                    KeyCode::Up => self.scroll.saturating_sub(1),
                    KeyCode::Down => self.scroll.saturating_add(1),
                    KeyCode::PageUp => self.scroll.saturating_sub(10),
                    KeyCode::PageDown => self.scroll.saturating_add(10),
                    _ => 0,
                };
                None
            }
            KeyCode::Char('s') => self.step_simulator(false),
            KeyCode::Char('S') => self.step_simulator(true),
            KeyCode::Char('r') => {
                for pane in &mut self.lanes {
                    pane.reset();
                }
                self.notice = Some((self.now, "counters reset".into()));
                None
            }
            _ => None,
        }
    }

    /// Whether a lane polls on the timer the poll keys steer.
    pub fn polls(&self) -> bool {
        self.lane(LaneKind::Poll).is_some() || self.lane(LaneKind::UrlPoll).is_some()
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
