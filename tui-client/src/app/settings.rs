//! What the user can change about the lanes while they run: plain values the
//! app keeps and the producers obey, so neither side imports the other.

use std::time::Duration;

/// What the poller does; changed live by the keys `+ - p e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    pub interval: Duration,
    pub paused: bool,
    /// Send `If-None-Match` with the last ETag, so unchanged lists cost a `304`.
    pub etag: bool,
    /// Open a new connection for every poll (`--new-connection`), so each
    /// poll pays the TCP and TLS handshakes as many real clients do.
    pub new_connection: bool,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            paused: false,
            etag: true,
            new_connection: false,
        }
    }
}
