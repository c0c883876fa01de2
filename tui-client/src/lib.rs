//! pollpush's client: REST polling and WebSocket push over the same data, measured
//! side by side.
//!
//! Producers ([`net`]) send [`event::Event`]s over one channel; [`app::App::update`]
//! turns them into state; the TUI ([`ui`]) renders that state.

pub mod app;
pub mod event;
pub mod net;
pub mod ui;
