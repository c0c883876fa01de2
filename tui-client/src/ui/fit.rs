//! Lines that keep what matters when the terminal is narrow: the parts that
//! must show, then each optional part in its longest form that still fits.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// A line that takes optional parts only while they fit its width.
pub struct Fit {
    spans: Vec<Span<'static>>,
    left: usize,
    style: Style,
}

impl Fit {
    pub fn new(width: usize, first: Span<'static>) -> Self {
        let mut fit = Self {
            spans: Vec::new(),
            left: width,
            style: Style::new(),
        };
        fit.push(first);
        fit
    }

    /// Sets the style of the parts pushed next with [`Fit::try_push`].
    pub fn styled(&mut self, style: Style) -> &mut Self {
        self.style = style;
        self
    }

    /// Columns still free.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Adds a part that must show, fitting or not.
    pub fn push(&mut self, span: Span<'static>) {
        self.left = self.left.saturating_sub(span.width());
        self.spans.push(span);
    }

    /// Adds the first of `forms` (longest first) that fits, or nothing.
    pub fn try_push(&mut self, forms: &[String]) {
        if let Some(text) = forms
            .iter()
            .find(|t| Span::raw(t.as_str()).width() <= self.left)
        {
            self.push(Span::styled(text.clone(), self.style));
        }
    }
}

impl From<Fit> for Line<'static> {
    fn from(fit: Fit) -> Self {
        Line::from(fit.spans)
    }
}
