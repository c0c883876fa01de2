//! REST writers: creates, renames and deletes that keep the data set at a few
//! dozen species, so the list (and each snapshot) stays the same size for hours.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::json;

pub struct Writer {
    base: String,
    token: Option<String>,
    /// This writer's own ids, far from the simulator's and the other writers'.
    first_id: u64,
    http: reqwest::Client,
    writes: Arc<AtomicU64>,
}

/// Species a writer keeps alive at once: 4 writers and the seed make about 45.
const KEEP: u64 = 10;

impl Writer {
    pub fn new(base: &str, token: Option<String>, index: u64, writes: Arc<AtomicU64>) -> Self {
        Self {
            base: base.to_owned(),
            token,
            first_id: 1_000_000 * (index + 1),
            http: reqwest::Client::new(),
            writes,
        }
    }

    pub async fn run(self, rate: u32, deadline: Instant) {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        while Instant::now() < deadline {
            tick.tick().await;
            // create id, rename it, ... delete it KEEP creations later.
            let step = n % 3;
            let id = self.first_id + (n / 3) % (KEEP * 4);
            let req = match step {
                0 => self
                    .http
                    .post(format!("{}/species", self.base))
                    .json(&json!({ "id": id, "name": format!("soak-{id}") })),
                1 => self
                    .http
                    .put(format!("{}/species/{id}", self.base))
                    .json(&json!({ "name": format!("soak-{id}-{n}") })),
                _ => {
                    let old = self.first_id + ((n / 3) + KEEP * 4 - KEEP) % (KEEP * 4);
                    self.http.delete(format!("{}/species/{old}", self.base))
                }
            };
            let req = match &self.token {
                Some(t) => req.bearer_auth(t),
                None => req,
            };
            if let Ok(r) = req.send().await
                && r.status().is_success()
            {
                self.writes.fetch_add(1, Relaxed);
            }
            n += 1;
        }
    }
}
