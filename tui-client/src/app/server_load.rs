//! What `GET /stats` says about the server's own cost, kept between samples
//! so CPU use can be derived from two of them.

use pollpush_shared::ServerStats;

/// The server's own cost, from `GET /stats`.
#[derive(Debug, Clone, Default)]
pub struct ServerLoad {
    pub stats: Option<ServerStats>,
    /// The node `stats` came from (of a cluster, the first that answered).
    pub node: Option<String>,
    /// CPU use between the last two samples, in percent of one core.
    pub cpu_percent: Option<f64>,
    pub error: Option<String>,
}

impl ServerLoad {
    pub(super) fn record(&mut self, node: String, stats: ServerStats) {
        match &self.stats {
            // Two samples of another node's process say nothing about either.
            _ if self.node.as_ref() != Some(&node) => self.cpu_percent = None,
            Some(prev) => {
                let wall = stats.uptime_s - prev.uptime_s;
                if wall > 0.0 {
                    let cpu = stats.process.cpu_seconds - prev.process.cpu_seconds;
                    self.cpu_percent = Some((cpu / wall * 100.0).max(0.0));
                }
            }
            None => {}
        }
        self.stats = Some(stats);
        self.node = Some(node);
        self.error = None;
    }
}
