//! The store of record: where a write is committed before it is acknowledged.
//!
//! Two backends behind one interface: SQLite (a file or `:memory:`, one
//! process, nothing to install) and PostgreSQL (shared by every node of a
//! cluster). On both, a write, its change record and the revision bump are
//! one transaction, and revisions form one contiguous sequence (1, 2, 3…),
//! so a node that missed revision R can always ask the history for it.
//!
//! The store knows nothing of subscribers or wire formats: it returns the
//! committed [`Change`], and the change source (`source.rs`) takes it from there.

mod feeds;
mod postgres;
mod sqlite;

pub use feeds::{Appended, FeedWrite, StoredFeed};

use std::time::Duration;

use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{Change, ChangeOp, NewSpecies, Revision, Species, SpeciesId, UpdateSpecies};

use crate::error::StoreError;
use crate::snapshot::Snapshot;

/// At least this many past changes stay replayable for `subscribe` with `since`.
pub const HISTORY_KEEP: u64 = 10_000;
/// Pruning runs once every this many writes, so history holds 10,000 to 11,000 changes.
const PRUNE_EVERY: u64 = 1_000;

/// The talk's two species, seeded into a new store.
const SEED: [(SpeciesId, &str); 2] = [(1, "AThaliana"), (2, "Tomate")];

/// One write, as REST and the simulator express it.
#[derive(Debug, Clone)]
pub enum Mutation {
    Create(NewSpecies),
    Replace(SpeciesId, UpdateSpecies),
    /// Add to a species' observation count (the simulator's usual change).
    Observe(SpeciesId, u64),
    Delete(SpeciesId),
}

/// How long one store operation may take before the store counts as unreachable.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The store of record. Clone it freely: clones share one database.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens `db`: a `postgres://` (or `postgresql://`) URL, a SQLite file, or
    /// `:memory:`. Creates or migrates the schema and seeds a new store.
    pub async fn open(db: &str) -> Result<Self, StoreError> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Ok(Self::Postgres(postgres::PgStore::open(db).await?))
        } else {
            Ok(Self::Sqlite(sqlite::SqliteStore::open(db).await?))
        }
    }

    /// Whether other processes may write to this store, so a node must check
    /// its position against the store's latest revision.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The list and its revision, read consistently.
    pub async fn load(&self) -> Result<Snapshot, StoreError> {
        match self {
            Self::Sqlite(s) => s.load().await,
            Self::Postgres(s) => s.load().await,
        }
    }

    /// Applies one mutation durably; returns its change once committed.
    pub async fn write(&self, mutation: Mutation) -> Result<Change, StoreError> {
        match self {
            Self::Sqlite(s) => s.write(mutation).await,
            Self::Postgres(s) => s.write(mutation).await,
        }
    }

    /// The first `limit` changes after `since`, oldest first, or `None` when
    /// some were already pruned (or `since` is from another store's timeline)
    /// and a snapshot is needed instead. Callers read a long history a chunk
    /// at a time, so no read holds more than `limit` changes in memory.
    pub async fn history(
        &self,
        since: Revision,
        limit: usize,
    ) -> Result<Option<Vec<Change>>, StoreError> {
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        match self {
            Self::Sqlite(s) => s.history(since, limit).await,
            Self::Postgres(s) => s.history(since, limit).await,
        }
    }

    /// The latest committed revision.
    pub async fn latest(&self) -> Result<Revision, StoreError> {
        match self {
            Self::Sqlite(s) => s.latest().await,
            Self::Postgres(s) => s.latest().await,
        }
    }

    /// Leaves the store complete on disk (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close(),
        }
    }
}

/// The change a committed write reports.
fn change(
    revision: Revision,
    op: ChangeOp,
    species: Species,
    at: chrono::DateTime<chrono::Utc>,
) -> Change {
    Change {
        room: SPECIES_ROOM.to_owned(),
        revision,
        op,
        species,
        at,
    }
}

/// Reads back a change record: its op, species JSON and timestamp, as stored.
fn decode_change(revision: u64, op: &str, species: &str, at: &str) -> Result<Change, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("change {revision}: {what}"));
    let op = match op {
        "created" => ChangeOp::Created,
        "updated" => ChangeOp::Updated,
        "deleted" => ChangeOp::Deleted,
        _ => return Err(corrupt("unknown op")),
    };
    let species: Species = serde_json::from_str(species).map_err(|_| corrupt("species"))?;
    Ok(change(
        revision,
        op,
        species,
        parse_stamp(at).ok_or_else(|| corrupt("timestamp"))?,
    ))
}

/// A species row as both backends store it (id, name, observations, RFC 3339 stamp).
fn species_of(
    id: i64,
    name: String,
    observations: i64,
    stamp: &str,
) -> Result<Species, StoreError> {
    let updated_at = parse_stamp(stamp)
        .ok_or_else(|| StoreError::Corrupt(format!("species {id}: timestamp")))?;
    Ok(Species {
        id: id as SpeciesId,
        name,
        observations: observations as u64,
        updated_at,
    })
}

fn parse_stamp(at: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The JSON a change record keeps of its species.
fn species_json(species: &Species) -> Result<String, StoreError> {
    serde_json::to_string(species).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The oldest revision pruning may delete at `revision`, if this write prunes.
fn prune_through(revision: Revision) -> Option<Revision> {
    (revision.is_multiple_of(PRUNE_EVERY) && revision > HISTORY_KEEP)
        .then(|| revision - HISTORY_KEEP - PRUNE_EVERY)
}
