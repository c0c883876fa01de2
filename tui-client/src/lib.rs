//! pollpush's client: REST polling and WebSocket push over the same data, measured
//! side by side.
//!
//! Producers ([`net`]) send [`event::Event`]s over one channel; [`app::App::update`]
//! turns them into state; the TUI ([`tui`], [`ui`]) renders that state. A headless
//! consumer reuses [`target::Target`], [`net::Producers`] and [`app::App`] as they are.

pub mod app;
pub mod cli;
pub mod condition;
pub mod event;
pub mod headless;
pub mod lane;
pub mod load;
pub mod net;
pub mod target;
pub mod tui;
pub mod ui;
