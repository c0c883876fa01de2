//! A live line on stderr while a load runs, only when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The progress line; silent (hidden) when stderr is not a terminal.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self { bar }
    }

    /// A progress line never shown (a `--worker`'s: its parent draws the line).
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// A phase without a known length: "connecting 3000/10000 subscribers".
    pub fn phase(&self, message: String) {
        self.bar.set_style(ProgressStyle::default_spinner());
        self.bar.set_length(0);
        self.bar.set_message(message);
    }

    /// The measured window, `seconds` long.
    pub fn window(&self, label: &str, seconds: u64) {
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_prefix(label.to_owned());
        self.bar.set_length(seconds);
        self.bar.set_position(0);
    }

    pub fn update(&self, seconds: u64, message: String) {
        self.bar.set_position(seconds);
        self.bar.set_message(message);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
