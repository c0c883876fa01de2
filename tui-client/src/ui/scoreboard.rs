//! The scoreboard: every lane on one row of the same numbers, for when four
//! panes do not fit, and under it the species table of the freshest lane.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Row, Table, Widget};

use super::Theme;
use super::format::{bytes, duration};
use super::pane::{PaneView, link};
use crate::app::App;
use crate::app::pane::PaneState;
use crate::event::Wire;
use crate::lane::Exchange;

pub struct Scoreboard<'a> {
    app: &'a App,
    theme: Theme,
}

/// The columns: what each means is in the header row.
const HEADER: [&str; 10] = [
    "lane",
    "rev",
    "stale",
    "p50",
    "p99",
    "missed",
    "req/msg",
    "B/change",
    "B/s",
    "HTTP·TLS",
];
const WIDTHS: [u16; 10] = [11, 6, 6, 6, 6, 6, 7, 8, 8, 9];

impl<'a> Scoreboard<'a> {
    pub fn new(app: &'a App, theme: Theme) -> Self {
        Self { app, theme }
    }

    /// The lane's row, its first `columns` cells.
    fn row(&self, pane: &PaneState, columns: usize) -> Row<'static> {
        let (state, style) = link(self.app, pane, self.theme);
        // The link's symbol only: the words would not fit a row.
        let symbol = state.chars().next().unwrap_or(' ');
        let s = &pane.staleness;
        let c = &pane.counters;
        let dash = || "—".to_owned();
        let known = pane.revision.is_some();
        let stale = |d| if known { duration(d) } else { dash() };
        let exchanges = match pane.kind.exchange() {
            Exchange::Requests => c.requests,
            Exchange::Messages => c.messages,
        };
        let missed_style = if c.missed > 0 {
            self.theme.bad()
        } else {
            self.theme.good()
        };
        let mut cells = vec![
            Line::from(vec![
                Span::styled(format!("{symbol} "), style),
                Span::raw(pane.kind.short()),
            ]),
            Line::raw(pane.revision.map_or_else(dash, |r| r.to_string())),
            Line::raw(stale(s.now)),
            Line::raw(stale(s.quantile(0.5))),
            Line::raw(stale(s.quantile(0.99))),
            Line::styled(c.missed.to_string(), missed_style),
            Line::raw(exchanges.to_string()),
            Line::raw(pane.bytes_per_change().map_or_else(dash, bytes)),
            Line::raw(bytes(pane.trend.last_bytes())),
            Line::raw(wire(pane.traffic().wire)),
        ];
        cells.truncate(columns);
        Row::new(cells)
    }
}

/// The versions in few characters: `2 · 1.3`, `1.1` (cleartext), empty before a connection.
fn wire(wire: Wire) -> String {
    match (wire.http, wire.tls) {
        (None, _) => String::new(),
        (Some(http), None) => http.number().to_owned(),
        (Some(http), Some(tls)) => format!("{} · {}", http.number(), tls.number()),
    }
}

impl Widget for Scoreboard<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let lanes = &self.app.lanes;
        let height = lanes.len() as u16 + 3;
        let [board, table] =
            Layout::vertical([Constraint::Length(height), Constraint::Min(0)]).areas(area);
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Span::styled(" lanes ", self.theme.title()));
        let inner = block.inner(board);
        block.render(board, buf);
        // The HTTP·TLS column only where it fits whole (from 86 columns).
        let all = WIDTHS.iter().sum::<u16>() + WIDTHS.len() as u16 - 1;
        let columns = if inner.width >= all {
            WIDTHS.len()
        } else {
            WIDTHS.len() - 1
        };
        let rows: Vec<Row> = lanes.iter().map(|p| self.row(p, columns)).collect();
        Table::new(
            rows,
            WIDTHS[..columns].iter().copied().map(Constraint::Length),
        )
        .header(Row::new(HEADER[..columns].to_vec()).style(self.theme.dim()))
        .render(inner, buf);
        let Some(freshest) = self.app.freshest() else {
            return;
        };
        // A feed's items are not species: the title names what is shown.
        let shown = self.app.feed.as_deref().unwrap_or("species");
        let title = format!(" {shown} · as {} shows them ", freshest.kind.short());
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Span::styled(title, self.theme.title()));
        let inner = block.inner(table);
        block.render(table, buf);
        PaneView::new(self.app, freshest, self.theme).render_table(inner, buf);
    }
}
