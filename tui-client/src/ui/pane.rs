//! One pane: title and link state, the numbers to compare, a byte-rate
//! sparkline and the species table. The same widget draws every lane's pane.

use std::collections::VecDeque;
use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Paragraph, RenderDirection, Row as TableRow, Sparkline, Table, Widget,
};

mod title;
mod watch;

use super::Theme;
use super::fit::Fit;
use super::format::{bytes, duration};
use crate::app::App;
use crate::app::pane::{HIGHLIGHT, Link, PaneState, Row, Trend};
use crate::lane::Exchange;
pub use title::link;

/// Picks one per-second series out of a pane's trend.
type Series = fn(&Trend) -> &VecDeque<u64>;

/// Heights of the labelled sparklines, used when the table still fits under them.
const MIN_TALL_TREND: u16 = 4;

pub struct PaneView<'a> {
    app: &'a App,
    pane: &'a PaneState,
    theme: Theme,
}

impl<'a> PaneView<'a> {
    pub fn new(app: &'a App, pane: &'a PaneState, theme: Theme) -> Self {
        Self { app, pane, theme }
    }
}

impl PaneView<'_> {
    fn revision_line(&self, width: u16) -> Line<'static> {
        let p = self.pane;
        let c = &p.counters;
        let shown = p.revision.map_or_else(|| "—".to_owned(), |r| r.to_string());
        let behind = match (p.revision, self.app.server_revision) {
            (Some(shown), Some(server)) if server > shown => Some(server - shown),
            _ => None,
        };
        let latest = self
            .app
            .server_revision
            .map_or_else(|| "—".to_owned(), |r| r.to_string());
        let mut line = Fit::new(usize::from(width), Span::raw("rev "));
        line.push(Span::styled(shown, self.theme.title()));
        line.push(Span::raw(format!("/{latest}")));
        if let Some(n) = behind {
            line.push(Span::styled(format!(" ({n} behind)"), self.theme.warn()));
        }
        line.push(Span::raw(format!(" · seen {} · missed ", c.seen)));
        let missed_style = if c.missed > 0 {
            self.theme.bad()
        } else {
            self.theme.good()
        };
        line.push(Span::styled(c.missed.to_string(), missed_style));
        if p.kind.streaming() {
            // Failovers first: of a cluster, they are the number to watch.
            if self.app.clustered() {
                line.try_push(&[format!(" · failovers {}", c.failovers)]);
            }
            line.try_push(&[format!(" · reconnects {}", c.reconnects)]);
        }
        line.into()
    }

    fn staleness_line(&self) -> Line<'static> {
        let s = &self.pane.staleness;
        if self.pane.revision.is_none() {
            return Line::styled("stale —", self.theme.dim());
        }
        let now_style = if s.now.is_zero() {
            self.theme.good()
        } else {
            self.theme.warn()
        };
        Line::from(vec![
            Span::raw("stale "),
            Span::styled(duration(s.now), now_style),
            Span::styled(
                format!(
                    " · p50 {} · p99 {} · max {}",
                    duration(s.quantile(0.5)),
                    duration(s.quantile(0.99)),
                    duration(s.max())
                ),
                Style::new(),
            ),
        ])
    }

    fn traffic_line(&self) -> Line<'static> {
        let c = &self.pane.counters;
        let t = self.pane.traffic();
        let count = match self.pane.kind.exchange() {
            // A watched URL's unchanged answers are 304s or equal bodies.
            Exchange::Requests if self.pane.kind.watched() => {
                format!("{} req ({} unchanged)", c.requests, c.not_modified)
            }
            Exchange::Requests => format!("{} req ({}×304)", c.requests, c.not_modified),
            Exchange::Messages => format!("{} msgs", c.messages),
        };
        let per_change = self
            .pane
            .bytes_per_change()
            .map_or_else(|| "—".to_owned(), bytes);
        let change = if self.pane.kind.watched() {
            "update"
        } else {
            "change"
        };
        // The TLS handshakes only when there were some: the cost of new connections.
        let h = t.handshakes;
        let handshakes = if h.full + h.resumed > 0 {
            format!(" · TLS {} full {} resumed", h.full, h.resumed)
        } else {
            String::new()
        };
        Line::raw(format!(
            "{count} · ↓{} ↑{} · {per_change}/{change}{handshakes}",
            bytes(t.bytes_in),
            bytes(t.bytes_out)
        ))
    }

    fn error_line(&self) -> Option<Line<'static>> {
        match &self.pane.link {
            Link::Retrying { error, .. } => {
                let kept = if self.pane.revision.is_some() {
                    " — showing last data"
                } else {
                    ""
                };
                Some(Line::styled(format!("{error}{kept}"), self.theme.bad()))
            }
            _ => None,
        }
    }

    /// Draws the last `area.width` values on the same scale as the other panes'.
    fn sparkline(&self, pick: Series, area: Rect, buf: &mut Buffer) {
        let width = usize::from(area.width);
        let recent = |trend: &Trend| -> Vec<u64> {
            let data = pick(trend);
            data.iter()
                .skip(data.len().saturating_sub(width))
                .copied()
                .collect()
        };
        let max = self
            .app
            .lanes
            .iter()
            .flat_map(|p| recent(&p.trend))
            .max()
            .unwrap_or(0)
            .max(1);
        // Any traffic at all shows as at least the lowest bar, even next to a
        // pane a hundred times busier.
        let lowest = max.div_ceil(8 * u64::from(area.height.max(1)));
        // Newest at the right edge, scrolling left.
        let mine: Vec<u64> = recent(&self.pane.trend)
            .into_iter()
            .rev()
            .map(|v| if v > 0 { v.max(lowest) } else { 0 })
            .collect();
        Sparkline::default()
            .data(&mine)
            .direction(RenderDirection::RightToLeft)
            .max(max)
            .style(self.theme.lane(self.pane.kind))
            .render(area, buf);
    }

    /// One line: the byte-rate sparkline and its last value.
    fn render_trend_compact(&self, area: Rect, buf: &mut Buffer) {
        let label = format!(" {}/s", bytes(self.pane.trend.last_bytes()));
        let [spark, text] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length(label.chars().count() as u16),
        ])
        .areas(area);
        self.sparkline(|t| &t.bytes, spark, buf);
        Paragraph::new(Line::styled(label, self.theme.dim())).render(text, buf);
    }

    /// Labelled sparklines of bytes/s and worst staleness per second, side by side.
    fn render_trend_tall(&self, area: Rect, buf: &mut Buffer) {
        let trend = &self.pane.trend;
        let [left, _, right] = Layout::horizontal([
            Constraint::Fill(1),
            Constraint::Length(2),
            Constraint::Fill(1),
        ])
        .areas(area);
        let worst = trend.staleness.back().copied().unwrap_or(0);
        let charts: [(Rect, String, Series); 2] = [
            (
                left,
                format!("bytes/s {}", bytes(trend.last_bytes())),
                |t| &t.bytes,
            ),
            (
                right,
                format!(
                    "worst staleness/s {}",
                    duration(Duration::from_millis(worst))
                ),
                |t| &t.staleness,
            ),
        ];
        for (column, label, data) in charts {
            let [title, chart] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(column);
            Paragraph::new(Line::styled(label, self.theme.dim())).render(title, buf);
            self.sparkline(data, chart, buf);
        }
    }

    /// The rows to show in `capacity` lines: all, or the most recently changed
    /// ones (in id order) and a "more" line.
    fn visible_rows(&self, capacity: usize) -> (Vec<&Row>, usize) {
        let rows: Vec<&Row> = self.pane.rows.values().collect();
        if rows.len() <= capacity {
            return (rows, 0);
        }
        let keep = capacity.saturating_sub(1);
        let mut recent = rows.clone();
        recent.sort_by_key(|r| std::cmp::Reverse((r.changed_at, r.species.updated_at)));
        recent.truncate(keep);
        recent.sort_by_key(|r| r.species.id);
        (recent, rows.len() - keep)
    }

    /// The species table, or a feed's items (`--feed`), alone (the
    /// scoreboard shows the freshest lane's).
    pub fn render_table(&self, area: Rect, buf: &mut Buffer) {
        match &self.pane.feed {
            Some(feed) => {
                let rows = usize::from(area.height.saturating_sub(1));
                self.render_feed(&feed.shown(rows), area, buf);
            }
            None => self.render_species(area, buf),
        }
    }

    fn render_species(&self, area: Rect, buf: &mut Buffer) {
        let (rows, hidden) = self.visible_rows(usize::from(area.height.saturating_sub(1)));
        // Measured over every pane, so their columns line up.
        let name_width = self
            .app
            .lanes
            .iter()
            .flat_map(|pane| pane.rows.values())
            .map(|r| r.species.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(8, 24) as u16;
        let mut lines: Vec<TableRow> = rows.iter().map(|row| self.table_row(row)).collect();
        if hidden > 0 {
            lines.push(
                TableRow::new(vec![String::new(), format!("… {hidden} more")])
                    .style(self.theme.dim()),
            );
        }
        let header = TableRow::new(["id", "name", "obs", "changed"]).style(self.theme.dim());
        Table::new(
            lines,
            [
                Constraint::Length(4),
                Constraint::Length(name_width),
                Constraint::Length(6),
                Constraint::Length(8),
            ],
        )
        .header(header)
        .render(area, buf);
    }

    fn table_row(&self, row: &Row) -> TableRow<'static> {
        let s = &row.species;
        let style = if row.deleted_at.is_some() {
            self.theme.deleted()
        } else if row.changed_at.is_some_and(|c| self.app.now - c < HIGHLIGHT) {
            self.theme.changed()
        } else {
            Style::new()
        };
        let server_now = self.app.clock.server_now(self.app.now);
        let updated = age((server_now - s.updated_at).num_seconds());
        TableRow::new(vec![
            format!("{:>3}", s.id),
            s.name.clone(),
            format!("{:>5}", s.observations),
            updated,
        ])
        .style(style)
    }
}

impl Widget for PaneView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(self.title(area.width))
            .title(self.link());
        let inner = block.inner(area);
        block.render(area, buf);
        if self.pane.kind.watched() {
            self.render_watched(inner, buf);
            return;
        }
        let mut lines = vec![
            self.revision_line(inner.width),
            self.staleness_line(),
            self.traffic_line(),
        ];
        lines.extend(self.error_line());
        // Tall sparklines only when the whole table still fits under them.
        let rows = self
            .pane
            .feed
            .as_ref()
            .map_or(self.pane.rows.len(), |f| f.0.len());
        let table_needs = rows as u16 + 1;
        let room = inner
            .height
            .saturating_sub(lines.len() as u16 + 1 + table_needs)
            .min(inner.height / 2);
        let tall = room >= MIN_TALL_TREND;
        let [numbers, trend, _, table] = Layout::vertical([
            Constraint::Length(lines.len() as u16),
            Constraint::Length(if tall { room } else { 1 }),
            Constraint::Length(u16::from(tall)),
            Constraint::Min(0),
        ])
        .areas(inner);
        Paragraph::new(lines).render(numbers, buf);
        if tall {
            self.render_trend_tall(trend, buf);
        } else {
            self.render_trend_compact(trend, buf);
        }
        self.render_table(table, buf);
    }
}

/// How long ago, coarsely, so the table only changes once a second.
fn age(seconds: i64) -> String {
    match seconds {
        ..1 => "now".to_owned(),
        1..60 => format!("{seconds}s ago"),
        60..3600 => format!("{}m ago", seconds / 60),
        _ => format!("{}h ago", seconds / 3600),
    }
}
