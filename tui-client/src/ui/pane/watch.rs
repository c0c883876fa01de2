//! A watched service's pane: the numbers any service allows (updates, rate,
//! gaps, bytes per update, delay when `--time-field` gives one), the byte-rate
//! sparkline, then the last payload: a table for a JSON array of objects,
//! pretty JSON otherwise, or text with its size.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row as TableRow, Table, Widget};
use serde_json::Value;

use super::PaneView;
use crate::event::Body;
use crate::lane::LaneKind;
use crate::ui::fit::Fit;
use crate::ui::format::{bytes, duration, interval};

impl PaneView<'_> {
    /// The pane of a service that is not a pollpush server.
    pub(super) fn render_watched(&self, inner: Rect, buf: &mut Buffer) {
        let mut lines = vec![
            self.updates_line(inner.width),
            self.delay_line(),
            self.traffic_line(),
        ];
        lines.extend(self.lag_line());
        lines.extend(self.error_line());
        // A blank line before the payload, unless the pane is short of room.
        let spacer = u16::from(inner.height >= 12);
        let [numbers, trend, _, body] = Layout::vertical([
            Constraint::Length(lines.len() as u16),
            Constraint::Length(1),
            Constraint::Length(spacer),
            Constraint::Min(0),
        ])
        .areas(inner);
        Paragraph::new(lines).render(numbers, buf);
        self.render_trend_compact(trend, buf);
        self.render_payload(body, buf);
    }

    pub(super) fn watch_title(&self) -> String {
        let kind = self.pane.kind;
        if let LaneKind::Feed(_) = kind {
            return format!(" {} · push ", kind.short());
        }
        let s = self.app.poll_settings;
        let conditional = if s.etag {
            "conditional"
        } else {
            "unconditional"
        };
        format!(" GET every {} · {conditional} ", interval(s.interval))
    }

    /// Updates, their rate, the time since the last and the gaps between them.
    pub(super) fn updates_line(&self, width: u16) -> Line<'static> {
        let w = &self.pane.watch;
        let seen = self.pane.counters.seen;
        let mut line = Fit::new(usize::from(width), Span::raw("updates "));
        line.push(Span::styled(seen.to_string(), self.theme.title()));
        if let Some(rate) = w.rate(seen) {
            line.push(Span::raw(format!(" · {rate:.2}/s")));
        }
        if let Some(last) = w.last_at {
            let ago = (self.app.now - last).to_std().unwrap_or_default();
            line.push(Span::raw(format!(" · last {} ago", duration(ago))));
        }
        if let Some(mean) = w.gaps.mean() {
            line.try_push(&[
                format!(
                    " · gaps {}/{}/{}",
                    duration(w.gaps.min),
                    duration(mean),
                    duration(w.gaps.max)
                ),
                format!(" · gap {}", duration(mean)),
            ]);
        }
        if w.redirects > 0 {
            line.try_push(&[format!(" · {} redirects", w.redirects)]);
        }
        line.into()
    }

    /// The delay on arrival, or why it cannot be measured.
    pub(super) fn delay_line(&self) -> Line<'static> {
        let w = &self.pane.watch;
        if w.pollpush {
            return Line::styled(
                "a pollpush server: --server URL measures staleness and misses",
                self.theme.warn(),
            );
        }
        if let Some(error) = &w.stamp_error {
            return Line::styled(format!("delay: {error}"), self.theme.bad());
        }
        let stamped = w
            .last
            .as_ref()
            .is_some_and(|p| matches!(p.stamp, Some(Ok(_))));
        if !stamped {
            return Line::styled("delay n/a: no timestamp (--time-field)", self.theme.dim());
        }
        let s = &self.pane.staleness;
        Line::from(vec![
            Span::raw("delay "),
            Span::styled(duration(s.now), self.theme.warn()),
            Span::raw(format!(
                " · p50 {} · p99 {} · max {}",
                duration(s.quantile(0.5)),
                duration(s.quantile(0.99)),
                duration(s.max())
            )),
        ])
    }

    /// With `--id-field` and `--version-field`: how long after the other lane
    /// this one showed the same item versions.
    fn lag_line(&self) -> Option<Line<'static>> {
        let w = &self.pane.watch;
        w.last.as_ref()?.items.as_ref()?;
        if let Some(error) = &w.item_error {
            return Some(Line::styled(format!("lag: {error}"), self.theme.bad()));
        }
        if w.matched == 0 {
            return Some(Line::styled(
                "lag: none yet (first, or no item matched)",
                self.theme.dim(),
            ));
        }
        Some(Line::raw(format!(
            "lag behind the other lane p50 {} · p99 {} · max {} · {} items",
            duration(w.lag.quantile(0.5)),
            duration(w.lag.quantile(0.99)),
            duration(w.lag.max()),
            w.matched
        )))
    }

    /// The last payload, in whatever shape suits it.
    pub(super) fn render_payload(&self, area: Rect, buf: &mut Buffer) {
        let Some(payload) = &self.pane.watch.last else {
            Paragraph::new(Line::styled("no update yet", self.theme.dim())).render(area, buf);
            return;
        };
        let [head, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        let name = payload
            .name
            .as_deref()
            .map(|n| format!("{n} · "))
            .unwrap_or_default();
        let kind = match &payload.body {
            Body::Json(_) => "JSON".to_owned(),
            Body::Text { content_type, .. } if content_type.is_empty() => "text".to_owned(),
            Body::Text { content_type, .. } => content_type.clone(),
        };
        let size = bytes(payload.size);
        Paragraph::new(Line::styled(
            format!("last: {name}{kind}, {size}"),
            self.theme.dim(),
        ))
        .render(head, buf);
        match &payload.body {
            Body::Json(Value::Array(items)) if is_table(items) => {
                self.render_json_table(items, body, buf);
            }
            Body::Json(value) => {
                let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
                render_text(&pretty, self.app.scroll, body, buf);
            }
            Body::Text { text, .. } => render_text(text, self.app.scroll, body, buf),
        }
    }

    /// An upstream feed's items (`--feed`): a table of their fields, or JSON.
    pub(super) fn render_feed(&self, items: &[Value], area: Rect, buf: &mut Buffer) {
        if is_table(items) {
            self.render_json_table(items, area, buf);
        } else {
            let pretty = serde_json::to_string_pretty(items).unwrap_or_default();
            render_text(&pretty, self.app.scroll, area, buf);
        }
    }

    fn render_json_table(&self, items: &[Value], area: Rect, buf: &mut Buffer) {
        let mut columns: Vec<&str> = Vec::new();
        for item in items.iter().filter_map(Value::as_object) {
            for key in item.keys() {
                if !columns.contains(&key.as_str()) {
                    columns.push(key);
                }
            }
        }
        let capacity = usize::from(area.height.saturating_sub(1));
        // When not all rows fit, the last line says how many are left out.
        let shown = if items.len() > capacity {
            capacity.saturating_sub(1)
        } else {
            capacity
        };
        let cell = |item: &Value, key: &str| match item.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        // Scrolled, but never past the last screenful.
        let skip = self.app.scroll.min(items.len().saturating_sub(shown));
        let items = &items[skip..];
        let shown = shown.min(items.len());
        let rows: Vec<TableRow> = items
            .iter()
            .take(shown)
            .map(|item| TableRow::new(columns.iter().map(|k| cell(item, k))))
            .collect();
        if shown < items.len() && area.height > 0 {
            let more = format!("… {} more", items.len() - shown);
            let last = Rect {
                y: area.bottom() - 1,
                height: 1,
                ..area
            };
            Paragraph::new(Line::styled(more, self.theme.dim())).render(last, buf);
        }
        let widths = columns.iter().map(|key| {
            let widest = items
                .iter()
                .map(|item| cell(item, key).chars().count())
                .chain([key.chars().count()])
                .max()
                .unwrap_or(1);
            Constraint::Max(widest.min(40) as u16)
        });
        Table::new(rows, widths.collect::<Vec<_>>())
            .header(TableRow::new(columns.iter().copied()).style(self.theme.title()))
            .column_spacing(2)
            .render(
                Rect {
                    height: area.height.min(shown as u16 + 1),
                    ..area
                },
                buf,
            );
    }
}

/// A top-level array of objects shows as a table, its keys as columns.
fn is_table(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(Value::is_object)
}

/// As many lines as fit from line `scroll` (never past the last screenful),
/// then how many more there are.
fn render_text(text: &str, scroll: usize, area: Rect, buf: &mut Buffer) {
    let capacity = usize::from(area.height);
    let all: Vec<&str> = text.lines().collect();
    let skip = scroll.min(all.len().saturating_sub(capacity));
    let all = &all[skip..];
    let mut lines: Vec<Line> = all
        .iter()
        .take(capacity)
        .map(|l| Line::raw((*l).to_owned()))
        .collect();
    if all.len() > capacity && capacity > 0 {
        lines.pop();
        lines.push(Line::raw(format!(
            "… {} more lines",
            all.len() - capacity + 1
        )));
    }
    Paragraph::new(lines).render(area, buf);
}
