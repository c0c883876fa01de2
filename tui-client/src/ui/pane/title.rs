//! A pane's title (the lane, how it speaks, how it polls, its node) and its
//! link state, which the scoreboard shows too.

use ratatui::style::Style;
use ratatui::text::Line;

use super::PaneView;
use crate::app::App;
use crate::app::pane::{Link, PaneState};
use crate::lane::LaneKind;
use crate::ui::Theme;
use crate::ui::format::interval;

impl PaneView<'_> {
    pub(super) fn title(&self, width: u16) -> Line<'static> {
        // Of a cluster, each pane names its node; "poll every" goes first when narrow.
        let node = self
            .pane
            .node
            .as_deref()
            .filter(|_| self.app.clustered())
            .map(|node| format!(" · {node}"))
            .unwrap_or_default();
        // How the lane's connection speaks, once it has one: `h2 · TLS1.3`.
        let wire = self
            .pane
            .traffic()
            .wire
            .label()
            .map(|wire| format!(" · {wire}"))
            .unwrap_or_default();
        let text = match self.pane.kind {
            LaneKind::Poll => {
                let s = self.app.poll_settings;
                let etag = if s.etag { "ETag" } else { "no ETag" };
                let every = match width {
                    70.. => "poll every ",
                    60.. if node.is_empty() => "poll every ",
                    _ if node.is_empty() => "poll ",
                    _ => "",
                };
                format!(
                    " REST{wire} · {every}{} · {etag}{node} ",
                    interval(s.interval)
                )
            }
            LaneKind::LongPoll => format!(" REST{wire} · long-poll{node} "),
            LaneKind::Sse => format!(" SSE{wire} · push{node} "),
            LaneKind::Ws => format!(" WebSocket{wire} · push{node} "),
            // socket.io always upgrades over HTTP/1.1, whatever --http says.
            LaneKind::SocketIo => format!(" socket.io · push{node} "),
            LaneKind::UrlPoll | LaneKind::Feed(_) => self.watch_title(),
        };
        Line::styled(text, self.theme.title())
    }

    pub(super) fn link(&self) -> Line<'static> {
        let (text, style) = link(self.app, self.pane, self.theme);
        Line::styled(format!(" {text} "), style).right_aligned()
    }
}

/// The lane's connection as a symbol and words, and their style.
pub fn link(app: &App, pane: &PaneState, theme: Theme) -> (String, Style) {
    let paused = pane.kind == LaneKind::Poll && app.poll_settings.paused;
    // Of a cluster, where a lost connection goes next, when that is another node.
    let moving = match (&pane.next_node, &pane.node) {
        (Some(next), current) if app.clustered() && current.as_ref() != Some(next) => {
            format!(" → {next}")
        }
        _ => String::new(),
    };
    match &pane.link {
        _ if paused => ("‖ paused".to_owned(), theme.warn()),
        Link::Connecting => ("○ connecting".to_owned(), theme.warn()),
        Link::Live => ("● live".to_owned(), theme.good()),
        Link::Retrying { retry_at, .. } => {
            let ms = (*retry_at - app.now).num_milliseconds().max(0);
            let secs = (ms + 999) / 1000;
            (format!("✖ retrying{moving} in {secs}s"), theme.bad())
        }
    }
}
