//! Rendering: reads an [`App`], draws it, changes nothing.
//!
//! The screen is a header line, the lanes and a two-line footer. Two lanes sit
//! side by side from 100 columns (stacked below); three or four make a 2×2
//! grid where there is room, else the [`scoreboard`]. [`pane`] draws one pane.

mod fit;
pub mod format;
mod help;
pub mod pane;
pub mod scoreboard;

use pollpush_shared::ServerStats;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::app::{App, ClockSource, Mode, View};
use crate::lane::LaneKind;
use fit::Fit;
use format::{bytes, count, signed_ms};

/// Smallest terminal the layout works in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this width the panes sit side by side.
pub const SIDE_BY_SIDE_WIDTH: u16 = 100;
/// From this size three or four lanes get a pane each, in a 2×2 grid.
pub const GRID_WIDTH: u16 = 140;
pub const GRID_HEIGHT: u16 = 36;

/// Colours, or none at all when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Honours <https://no-color.org>: any non-empty `NO_COLOR` turns colours off.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self { color: !no_color }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// A row that changed in the last second.
    pub fn changed(self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// A row that was deleted and is about to go.
    pub fn deleted(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::CROSSED_OUT)
    }

    /// Each lane's colour in the sparklines.
    pub fn lane(self, kind: LaneKind) -> Style {
        self.fg(match kind {
            LaneKind::Poll | LaneKind::UrlPoll => Color::Blue,
            LaneKind::LongPoll => Color::Cyan,
            LaneKind::Sse => Color::Green,
            LaneKind::Ws | LaneKind::Feed(_) => Color::Magenta,
            LaneKind::SocketIo => Color::Yellow,
        })
    }
}

/// The whole screen for one frame.
pub struct Screen<'a> {
    pub app: &'a App,
    pub theme: Theme,
    /// What the header says the panes are connected to.
    pub server: &'a str,
}

impl Widget for Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            too_small(area, buf, self.theme);
            return;
        }
        let [header, panes, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(2),
        ])
        .areas(area);
        self.header(header, buf);
        if scoreboard_fits(self.app, area) {
            scoreboard::Scoreboard::new(self.app, self.theme).render(panes, buf);
        } else {
            for (pane, rect) in self
                .app
                .lanes
                .iter()
                .zip(pane_areas(panes, self.app.lanes.len()))
            {
                pane::PaneView::new(self.app, pane, self.theme).render(rect, buf);
            }
        }
        self.footer(footer, buf);
        if self.app.help {
            help::render(panes, buf, self.theme, self.app);
        }
    }
}

/// Whether the lanes show as a scoreboard rather than a pane each.
fn scoreboard_fits(app: &App, area: Rect) -> bool {
    // The scoreboard compares revisions and species, which a watched service has not.
    if app.watching() {
        return false;
    }
    match app.view {
        View::Scoreboard => true,
        View::Panes => false,
        View::Auto => app.lanes.len() > 2 && (area.width < GRID_WIDTH || area.height < GRID_HEIGHT),
    }
}

/// One rectangle per lane: the whole area, two halves, or a 2×2 grid.
fn pane_areas(area: Rect, lanes: usize) -> Vec<Rect> {
    let halves = |area: Rect, direction| {
        Layout::default()
            .direction(direction)
            .constraints([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)])
            .split(area)
            .to_vec()
    };
    match lanes {
        0 | 1 => vec![area],
        2 if area.width >= SIDE_BY_SIDE_WIDTH => halves(area, Direction::Horizontal),
        2 => halves(area, Direction::Vertical),
        _ => halves(area, Direction::Vertical)
            .into_iter()
            .flat_map(|row| halves(row, Direction::Horizontal))
            .collect(),
    }
}

impl Screen<'_> {
    fn header(&self, area: Rect, buf: &mut Buffer) {
        let revision = self
            .app
            .server_revision
            .map_or_else(|| "—".to_owned(), |r| r.to_string());
        let mut tail = if self.app.watching() {
            vec![Span::raw(format!(" · {}", self.server))]
        } else {
            // Watching a feed, the revision is the feed's.
            let rev = match &self.app.feed {
                Some(name) => format!(" · feed {name} rev "),
                None => " · server rev ".to_owned(),
            };
            vec![
                Span::raw(format!(" · {}{rev}", self.server)),
                Span::styled(revision, self.theme.title()),
            ]
        };
        if self.app.insecure {
            tail.insert(
                0,
                Span::styled(" · INSECURE: certificates not checked", self.theme.bad()),
            );
        }
        let room = usize::from(area.width).saturating_sub(tail.iter().map(Span::width).sum());
        let mut line = Fit::new(room, Span::styled(" pollpush", self.theme.title()));
        if area.width >= SIDE_BY_SIDE_WIDTH {
            let lanes = |name: fn(LaneKind) -> &'static str, between| {
                let names: Vec<&str> = self.app.lanes.iter().map(|p| name(p.kind)).collect();
                format!(" · {}", names.join(between))
            };
            line.styled(self.theme.dim()).try_push(&[
                lanes(LaneKind::title, " vs "),
                lanes(LaneKind::short, " · "),
            ]);
        }
        let mut line = Line::from(line);
        line.spans.extend(tail);
        Paragraph::new(line).render(area, buf);
    }

    fn footer(&self, area: Rect, buf: &mut Buffer) {
        let [load, keys] = Layout::vertical([Constraint::Length(1); 2]).areas(area);
        Paragraph::new(self.load_line(usize::from(area.width))).render(load, buf);
        let line = match &self.app.notice {
            Some((_, text)) => Line::from(Span::styled(format!(" {text}"), self.theme.warn())),
            None => self.keys_line(usize::from(area.width)),
        };
        Paragraph::new(line).render(keys, buf);
    }

    /// The server's figures (a cluster's, when `/stats` has them), then what
    /// fits of the rest in `width` columns.
    fn load_line(&self, width: usize) -> Line<'static> {
        let theme = self.theme;
        let server = &self.app.server;
        let cluster = server.stats.as_ref().and_then(|s| s.cluster.as_ref());
        // Several nodes without a broker: the figures are one node's, so name it.
        let label = match (cluster, &server.node, &server.error) {
            (Some(_), _, None) => " cluster ".to_owned(),
            (None, Some(node), None) if self.app.clustered() => format!(" {node} "),
            _ => " server ".to_owned(),
        };
        if self.app.watching() {
            let mut line = Fit::new(width, Span::styled(" service ", theme.title()));
            line.styled(theme.dim()).try_push(&[
                "not a pollpush server: no server figures; staleness needs --time-field".to_owned(),
                "not a pollpush server".to_owned(),
            ]);
            return line.into();
        }
        let mut line = Fit::new(width, Span::styled(label, theme.title()));
        let cpu = || {
            server
                .cpu_percent
                .map_or_else(|| "—".to_owned(), |c| format!("{c:.1}%"))
        };
        match (&server.stats, &server.error) {
            (_, Some(error)) => line.push(Span::styled(format!("/stats: {error}"), theme.bad())),
            (None, None) => line.push(Span::styled("waiting for /stats…", theme.dim())),
            (Some(stats), None) => match cluster {
                Some(cluster) => {
                    let t = &cluster.totals;
                    let plural = |n: u64, one: &str, many: &str| {
                        format!("{} {}", count(n), if n == 1 { one } else { many })
                    };
                    line.push(Span::raw(format!(
                        "{} · {}",
                        plural(t.nodes, "node", "nodes"),
                        plural(t.subscribers, "subscriber", "subscribers")
                    )));
                    line.try_push(&[format!(" · {} conns", count(t.connections))]);
                    line.try_push(&[format!(" · RSS {}", bytes(t.rss_bytes))]);
                    if let Some(node) = &server.node {
                        line.try_push(&[format!(" · CPU {} on {node}", cpu())]);
                    }
                }
                None => line.push(Span::raw(format!(
                    "CPU {} · RSS {} · conns {}",
                    cpu(),
                    bytes(stats.process.rss_bytes),
                    connections(stats)
                ))),
            },
        }
        if let Some(rate) = self.app.simulator_rate() {
            line.try_push(&[format!(" · sim {rate}/s")]);
        }
        let offset = signed_ms(self.app.clock.offset);
        let clock = match self.app.clock.source {
            ClockSource::SameProcess => vec![" · same clock".to_owned()],
            ClockSource::Unknown => vec![" · clock offset unknown".to_owned()],
            ClockSource::HttpDate => vec![
                format!(" · clock {offset} corrected (Date ±1 s)"),
                format!(" · clock {offset}"),
            ],
            ClockSource::Hello => vec![
                format!(" · clock {offset} corrected (hello)"),
                format!(" · clock {offset}"),
            ],
        };
        line.styled(theme.dim()).try_push(&clock);
        line.into()
    }

    /// The keys, the least needed dropped first when narrow; polling's own
    /// keys are grouped under "poll", and absent without a poll lane.
    fn keys_line(&self, width: usize) -> Line<'static> {
        let theme = self.theme;
        let help = [Span::styled("?", theme.key()), Span::raw(" help")];
        let room = width.saturating_sub(help.iter().map(Span::width).sum());
        let mut line = Fit::new(room, Span::raw(" "));
        let group = |line: &mut Fit, label: &str, keys: &[(&str, &str)]| {
            let width: usize = keys
                .iter()
                .map(|(k, what)| Span::raw(format!("{k} {what}  ")).width())
                .sum();
            if Span::raw(label.to_owned()).width() + width > line.left() {
                return;
            }
            if !label.is_empty() {
                line.push(Span::styled(label.to_owned(), theme.dim()));
            }
            for (key, what) in keys {
                line.push(Span::styled((*key).to_owned(), theme.key()));
                line.push(Span::raw(format!(" {what}  ")));
            }
        };
        group(&mut line, "", &[("q", "quit")]);
        if self.app.polls() {
            group(
                &mut line,
                "poll: ",
                &[("+/-", "interval"), ("p", "pause"), ("e", "ETag")],
            );
        }
        if !self.app.watching() && self.app.feed.is_none() {
            group(&mut line, "", &[("n", "change")]);
        }
        if self.app.watching() {
            group(&mut line, "", &[("↑↓", "scroll")]);
        } else {
            group(&mut line, "", &[("v", "view")]);
        }
        if matches!(self.app.mode, Mode::Embedded { .. }) {
            group(&mut line, "", &[("s/S", "sim")]);
        }
        group(&mut line, "", &[("r", "reset")]);
        let mut line = Line::from(line);
        line.spans.extend(help);
        line
    }
}

fn too_small(area: Rect, buf: &mut Buffer, theme: Theme) {
    let text = vec![
        Line::styled("terminal too small", theme.bad()),
        Line::raw(format!(
            "{}×{}: need at least {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::styled("enlarge it, or press q to quit", theme.dim()),
    ];
    let y = area.y + area.height.saturating_sub(3) / 2;
    let middle = Rect::new(area.x, y, area.width, area.height.min(3));
    Paragraph::new(text)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(middle, buf);
}

/// Open connections by lane, as `/stats` counts them: REST and WS always
/// (what every server reports), the other lanes once they have any.
fn connections(stats: &ServerStats) -> String {
    [
        ("REST", stats.rest.connections, true),
        ("long-poll", stats.longpoll.connections, false),
        ("SSE", stats.sse.connections, false),
        ("WS", stats.ws.connections, true),
        ("socket.io", stats.socketio.connections, false),
    ]
    .into_iter()
    .filter(|&(_, n, always)| always || n > 0)
    .map(|(lane, n, _)| format!("{lane} {}", count(n)))
    .collect::<Vec<_>>()
    .join(" ")
}

#[cfg(test)]
mod tests;
