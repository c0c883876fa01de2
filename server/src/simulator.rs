//! Realistic changes at a chosen rate, through the same write path as REST.
//!
//! Mostly observation increments on random species, sometimes a new species or
//! a deletion, keeping between 2 and 50 species. Seeded, so runs repeat.

use std::time::Duration;

use pollpush_shared::NewSpecies;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use crate::shutdown::Shutdown;
use crate::source::ChangeSource;
use crate::store::Mutation;

const MIN_SPECIES: usize = 2;
const MAX_SPECIES: usize = 50;
const NAMES: &[&str] = &[
    "Oryza",
    "Zea",
    "Vitis",
    "Medicago",
    "Brassica",
    "Solanum",
    "Triticum",
    "Populus",
    "Nicotiana",
    "Hordeum",
    "Sorghum",
    "Glycine",
    "Lotus",
    "Pisum",
    "Malus",
    "Prunus",
];

/// Controls the running simulator; clones control the same one.
#[derive(Debug, Clone)]
pub struct SimulatorHandle {
    rate: watch::Sender<f64>,
}

impl SimulatorHandle {
    /// Changes per second from now on (0 pauses); negative and NaN count as 0.
    pub fn set_rate(&self, rate: f64) {
        let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
        self.rate.send_replace(rate);
    }

    pub fn rate(&self) -> f64 {
        *self.rate.borrow()
    }
}

/// Starts the simulator task; it ends when `shutdown` fires.
pub fn spawn(
    source: ChangeSource,
    rate: f64,
    seed: Option<u64>,
    mut shutdown: Shutdown,
) -> SimulatorHandle {
    let (tx, mut rx) = watch::channel(0.0);
    let handle = SimulatorHandle { rate: tx };
    handle.set_rate(rate);
    let mut rng = seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
    tokio::spawn(async move {
        loop {
            let rate = *rx.borrow_and_update();
            let wait = if rate > 0.0 {
                Duration::from_secs_f64((1.0 / rate).min(3600.0))
            } else {
                Duration::from_hours(1)
            };
            tokio::select! {
                () = shutdown.wait() => break,
                changed = rx.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(wait), if rate > 0.0 => {
                    let mutation = pick(&source, &mut rng);
                    if let Err(e) = source.write(mutation).await {
                        tracing::debug!("simulated change skipped: {e}");
                    }
                }
            }
        }
    });
    handle
}

fn pick(source: &ChangeSource, rng: &mut StdRng) -> Mutation {
    let snapshot = source.snapshot();
    let ids: Vec<u64> = snapshot.species.keys().copied().collect();
    let roll: f64 = rng.random();
    if ids.is_empty() || (roll < 0.05 && ids.len() < MAX_SPECIES) {
        let name = NAMES[rng.random_range(0..NAMES.len())];
        return Mutation::Create(NewSpecies {
            id: None,
            name: format!("{name} {}", rng.random_range(1..1000)),
            observations: Some(0),
        });
    }
    let id = ids[rng.random_range(0..ids.len())];
    // The talk's own two species (ids 1 and 2) are never deleted: the demo keeps them.
    if roll < 0.10 && ids.len() > MIN_SPECIES && id > 2 {
        Mutation::Delete(id)
    } else {
        Mutation::Observe(id, rng.random_range(1..=3))
    }
}
