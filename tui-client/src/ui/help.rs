//! The help popup: the keys, and what the numbers mean.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget};

use super::Theme;
use crate::app::App;

pub fn render(area: Rect, buf: &mut Buffer, theme: Theme, app: &App) {
    let simulator = app.simulator_rate().is_some();
    let watching = app.watching();
    let mut rows = vec![
        ("q Esc Ctrl-C", "quit"),
        ("+  -", "poll lane: poll less / more often (100 ms … 60 s)"),
        ("p", "poll lane: pause or resume polling"),
        ("e", "poll lane: send If-None-Match or not (what 304s save)"),
    ];
    // A watched service is never written to, and shows a pane per lane.
    if watching {
        rows.push(("↑ ↓ PgUp PgDn", "scroll the payloads (Home: top)"));
    } else {
        rows.extend([
            ("n", "make one change now, through REST"),
            ("v", "view: auto, scoreboard, a pane per lane"),
        ]);
    }
    if simulator {
        rows.push(("s  S", "simulator slower / faster"));
    }
    rows.extend([("r", "reset counters"), ("?", "close this help")]);
    let mut text: Vec<Line> = rows
        .into_iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>13}  "), theme.key()),
                Span::raw(what),
            ])
        })
        .collect();
    text.push(Line::raw(""));
    if !watching {
        text.extend([
            Line::styled(
                " stale: age of the oldest server change the pane does not show yet",
                theme.dim(),
            ),
            Line::styled(
                " missed: revisions a (long-)poll jumped over (streams stay at 0)",
                theme.dim(),
            ),
        ]);
    }
    text.push(Line::styled(
        " bytes: counted on the TCP socket, headers, framing and TLS included",
        theme.dim(),
    ));
    if watching {
        text.extend([
            Line::styled(
                " delay: arrival time minus the update's --time-field (clock offset",
                theme.dim(),
            ),
            Line::styled(
                "   from HTTP Date); n/a without it: nothing says when a change was made",
                theme.dim(),
            ),
        ]);
    }
    let width = area.width.min(74);
    let height = (text.len() as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    Clear.render(popup, buf);
    Paragraph::new(text)
        .block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .title(Span::styled(" keys ", theme.title())),
        )
        .render(popup, buf);
}
