//! The terminal consumer: sets the terminal up (and always restores it, on
//! quit, on error and on panic), feeds keys into the event channel, applies
//! events to the [`App`] and draws at most ~30 frames a second, only when dirty.

use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{App, Effect};
use crate::cli::Cli;
use crate::event::Event;
use crate::net::control;
use crate::net::{Cadence, Producers};
use crate::target::{Target, TargetError};
use crate::ui::{Screen, Theme};

/// Shortest time between two frames.
const FRAME: Duration = Duration::from_millis(33);

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Owns the terminal in raw mode on the alternate screen; restores it when dropped.
struct TerminalGuard {
    terminal: DefaultTerminal,
}

impl TerminalGuard {
    /// `ratatui::try_init` also installs a panic hook that restores the terminal first.
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            terminal: ratatui::try_init()?,
        })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = ratatui::try_restore();
    }
}

/// Runs the TUI until the user quits.
pub async fn run(cli: Cli) -> Result<(), TuiError> {
    let target = cli.connect.target().await?;
    let result = run_on(&target, &cli).await;
    target.shutdown().await;
    result
}

async fn run_on(target: &Target, cli: &Cli) -> Result<(), TuiError> {
    let settings = cli.connect.poll_settings();
    let lanes = cli.connect.lanes();
    let (events, mut inbox) = mpsc::channel(1024);
    let producers = Producers::spawn(
        &target.nodes,
        &lanes,
        settings,
        Cadence::default(),
        &events,
        target.watch.as_ref(),
    );
    let mut app = App::new(target.mode, settings, pollpush_shared::time::now())
        .with_lanes(&lanes.kinds)
        .with_nodes(target.nodes.labels())
        .with_feed(target.nodes.poll().feed.clone())
        .with_feed_time(cli.connect.time_field.clone());
    app.insecure = cli.connect.insecure && target.watch.is_some();
    let mut guard = TerminalGuard::new()?;
    let input = tokio::spawn(forward_input(events.clone()));
    let theme = Theme::from_env();
    let writer = std::sync::Arc::new(control::writer(cli.connect.token.as_deref()));
    let mut next_frame = Instant::now();
    loop {
        if app.dirty && Instant::now() >= next_frame {
            guard.terminal.draw(|frame| {
                let screen = Screen {
                    app: &app,
                    theme,
                    server: &target.label,
                };
                frame.render_widget(screen, frame.area());
            })?;
            app.dirty = false;
            next_frame = Instant::now() + FRAME;
        }
        let event = tokio::select! {
            event = inbox.recv() => event,
            () = tokio::time::sleep_until(next_frame), if app.dirty => continue,
        };
        let Some(event) = event else { break };
        let quit = apply(&mut app, event, target, &producers, &writer, &events)
            || std::iter::from_fn(|| inbox.try_recv().ok())
                .take(256)
                .any(|event| apply(&mut app, event, target, &producers, &writer, &events));
        if quit {
            break;
        }
    }
    input.abort();
    drop(producers);
    drop(guard);
    Ok(())
}

/// Applies one event and performs the effect it asks for; true means quit.
fn apply(
    app: &mut App,
    event: Event,
    target: &Target,
    producers: &Producers,
    writer: &std::sync::Arc<control::Writer>,
    events: &mpsc::Sender<Event>,
) -> bool {
    match app.update(event) {
        None => false,
        Some(Effect::Quit) => true,
        Some(Effect::ApplyPollSettings(settings)) => {
            producers.apply(settings);
            false
        }
        Some(Effect::SetSimulatorRate(rate)) => {
            target.set_simulator_rate(rate);
            false
        }
        Some(Effect::WriteNow) => {
            let (writer, endpoints, events) =
                (writer.clone(), target.nodes.poll().clone(), events.clone());
            tokio::spawn(async move {
                let text = match control::write_now(&writer, &endpoints).await {
                    Ok(done) => done,
                    Err(error) => format!("write failed: {error}"),
                };
                let at = pollpush_shared::time::now();
                let _ = events.send(Event::Notice { at, text }).await;
            });
            false
        }
    }
}

/// Turns terminal input into events until the terminal or the channel closes.
async fn forward_input(events: mpsc::Sender<Event>) {
    let mut input = EventStream::new();
    while let Some(Ok(event)) = input.next().await {
        let event = match event {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => Event::Key(key),
            TermEvent::Resize(..) => Event::Resize,
            _ => continue,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}
