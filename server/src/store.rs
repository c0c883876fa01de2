//! The species store: SQLite on disk (or in memory), with the current list cached.
//!
//! Every write runs in one transaction that also appends a change record and
//! bumps the revision, so history and data can never disagree, even after
//! `kill -9`. Writes are serialized behind one connection (SQLite allows one
//! writer anyway); reads of the whole list never touch the disk: they take the
//! cached [`Snapshot`], whose JSON body and ETag are computed once per revision.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{Change, ChangeOp, NewSpecies, Revision, Species, SpeciesId, UpdateSpecies};
use rusqlite::{Connection, OptionalExtension, params};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::StoreError;
use crate::feed::{ChangeFrame, FeedSender};

/// At least this many past changes stay replayable for `subscribe` with `since`.
pub const HISTORY_KEEP: u64 = 10_000;
/// Pruning runs once every this many writes, so history holds 10,000 to 11,000 changes.
const PRUNE_EVERY: u64 = 1_000;

/// One write, as REST and the simulator express it.
#[derive(Debug, Clone)]
pub enum Mutation {
    Create(NewSpecies),
    Replace(SpeciesId, UpdateSpecies),
    /// Add to a species' observation count (the simulator's usual change).
    Observe(SpeciesId, u64),
    Delete(SpeciesId),
}

/// The list of species at one revision; cheap to clone, lazily serialized.
#[derive(Debug)]
pub struct Snapshot {
    pub revision: Revision,
    pub species: Arc<BTreeMap<SpeciesId, Species>>,
    encoded: OnceLock<(Bytes, String)>,
    message: OnceLock<Utf8Bytes>,
}

impl Snapshot {
    fn new(revision: Revision, species: Arc<BTreeMap<SpeciesId, Species>>) -> Self {
        Self {
            revision,
            species,
            encoded: OnceLock::new(),
            message: OnceLock::new(),
        }
    }

    /// The species sorted by id.
    pub fn list(&self) -> Vec<Species> {
        self.species.values().cloned().collect()
    }

    /// The JSON array and its ETag (a hash of exactly those bytes), computed once.
    pub fn encoded(&self) -> (&Bytes, &str) {
        let (body, etag) = self.encoded.get_or_init(|| {
            let list: Vec<&Species> = self.species.values().collect();
            let body = serde_json::to_vec(&list).unwrap_or_else(|_| b"[]".to_vec());
            let mut hasher = std::hash::DefaultHasher::new();
            body.hash(&mut hasher);
            (Bytes::from(body), format!("\"{:016x}\"", hasher.finish()))
        });
        (body, etag)
    }
}

impl Snapshot {
    /// The `/ws` `snapshot` message for this list, built once per revision from
    /// the cached JSON body: a reconnect storm of 10,000 subscribers serializes
    /// the list once, not 10,000 times.
    pub fn message(&self) -> Utf8Bytes {
        self.message
            .get_or_init(|| {
                let (body, _) = self.encoded();
                let head = format!(
                    r#"{{"type":"snapshot","room":"{SPECIES_ROOM}","revision":{},"species":"#,
                    self.revision
                );
                let mut text = String::with_capacity(head.len() + body.len() + 1);
                text.push_str(&head);
                text.push_str(std::str::from_utf8(body).unwrap_or("[]"));
                text.push('}');
                text.into()
            })
            .clone()
    }
}

/// The store. Clone it freely: clones share one database and one cache.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    cache: RwLock<Arc<Snapshot>>,
    feed: FeedSender,
}

impl Store {
    /// Opens (creating and seeding if new) the database at `path`, or in memory for `:memory:`.
    pub fn open(path: &str, feed: FeedSender) -> Result<Self, StoreError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            Connection::open(Path::new(path))?
        };
        migrate(&conn)?;
        let revision = read_revision(&conn)?;
        let species = read_species(&conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                cache: RwLock::new(Arc::new(Snapshot::new(revision, Arc::new(species)))),
                feed,
            }),
        })
    }

    /// The current list, from memory.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies one mutation durably, then publishes its change. Returns the change.
    pub async fn write(&self, mutation: Mutation) -> Result<Change, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.write(mutation))
            .await
            .map_err(|_| StoreError::WorkerGone)?
    }

    /// Every change after `since`, oldest first, or `None` when some were already pruned
    /// (or `since` is from another store's timeline) and a snapshot is needed instead.
    pub async fn history(&self, since: Revision) -> Result<Option<Vec<Change>>, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.history(since))
            .await
            .map_err(|_| StoreError::WorkerGone)?
    }

    /// Checkpoints the WAL so the database file is complete on its own.
    pub fn close(&self) {
        let conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            tracing::warn!("checkpoint on close failed: {e}");
        }
    }
}

impl Inner {
    fn write(&self, mutation: Mutation) -> Result<Change, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let revision = current.revision + 1;
        let at = pollpush_shared::time::now();
        let stamp = pollpush_shared::time::format(&at);
        let tx = conn.transaction()?;
        let (op, species) = match mutation {
            Mutation::Create(body) => {
                let observations = body.observations.unwrap_or(0);
                let id = match body.id {
                    Some(id) if current.species.contains_key(&id) => {
                        return Err(StoreError::Conflict(id));
                    }
                    Some(id) => {
                        tx.execute(
                            "INSERT INTO species (id, name, observations, updated_at) VALUES (?1, ?2, ?3, ?4)",
                            params![id as i64, body.name, observations as i64, stamp],
                        )?;
                        id
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO species (name, observations, updated_at) VALUES (?1, ?2, ?3)",
                            params![body.name, observations as i64, stamp],
                        )?;
                        tx.last_insert_rowid() as u64
                    }
                };
                let species = Species {
                    id,
                    name: body.name,
                    observations,
                    updated_at: at,
                };
                (ChangeOp::Created, species)
            }
            Mutation::Replace(id, body) => {
                let old = current.species.get(&id).ok_or(StoreError::NotFound(id))?;
                let species = Species {
                    id,
                    name: body.name,
                    observations: body.observations.unwrap_or(old.observations),
                    updated_at: at,
                };
                store_species(&tx, &species, &stamp)?;
                (ChangeOp::Updated, species)
            }
            Mutation::Observe(id, delta) => {
                let old = current.species.get(&id).ok_or(StoreError::NotFound(id))?;
                let species = Species {
                    observations: old.observations.saturating_add(delta),
                    updated_at: at,
                    ..old.clone()
                };
                store_species(&tx, &species, &stamp)?;
                (ChangeOp::Updated, species)
            }
            Mutation::Delete(id) => {
                let old = current.species.get(&id).ok_or(StoreError::NotFound(id))?;
                tx.execute("DELETE FROM species WHERE id = ?1", params![id as i64])?;
                (ChangeOp::Deleted, old.clone())
            }
        };
        let species_json =
            serde_json::to_string(&species).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO changes (revision, op, species, at) VALUES (?1, ?2, ?3, ?4)",
            params![revision as i64, op.as_str(), species_json, stamp],
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'revision'",
            params![revision as i64],
        )?;
        if revision.is_multiple_of(PRUNE_EVERY) && revision > HISTORY_KEEP {
            tx.execute(
                "DELETE FROM changes WHERE revision <= ?1",
                params![(revision - HISTORY_KEEP - PRUNE_EVERY) as i64],
            )?;
        }
        tx.commit()?;

        let mut map = (*current.species).clone();
        if op == ChangeOp::Deleted {
            map.remove(&species.id);
        } else {
            map.insert(species.id, species.clone());
        }
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Snapshot::new(revision, Arc::new(map)));
        let change = Change {
            room: SPECIES_ROOM.to_owned(),
            revision,
            op,
            species,
            at,
        };
        // Published while the write lock is held, so the feed sees revisions in order.
        self.feed.publish(ChangeFrame::new(change.clone()));
        Ok(change)
    }

    fn history(&self, since: Revision) -> Result<Option<Vec<Change>>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let current = read_revision(&conn)?;
        if since > current {
            return Ok(None);
        }
        if since == current {
            return Ok(Some(Vec::new()));
        }
        let oldest: Option<i64> = conn
            .query_row("SELECT MIN(revision) FROM changes", [], |r| r.get(0))
            .optional()?
            .flatten();
        match oldest {
            Some(oldest) if oldest as u64 <= since + 1 => {}
            _ => return Ok(None),
        }
        let mut stmt = conn.prepare_cached(
            "SELECT revision, op, species, at FROM changes WHERE revision > ?1 ORDER BY revision",
        )?;
        let rows = stmt.query_map(params![since as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut changes = Vec::new();
        for row in rows {
            let (revision, op, species, at) = row?;
            changes.push(decode_change(revision as u64, &op, &species, &at)?);
        }
        Ok(Some(changes))
    }
}

fn store_species(
    tx: &rusqlite::Transaction<'_>,
    species: &Species,
    stamp: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE species SET name = ?2, observations = ?3, updated_at = ?4 WHERE id = ?1",
        params![
            species.id as i64,
            species.name,
            species.observations as i64,
            stamp
        ],
    )?;
    Ok(())
}

fn decode_change(revision: u64, op: &str, species: &str, at: &str) -> Result<Change, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("change {revision}: {what}"));
    let op = match op {
        "created" => ChangeOp::Created,
        "updated" => ChangeOp::Updated,
        "deleted" => ChangeOp::Deleted,
        _ => return Err(corrupt("unknown op")),
    };
    let species: Species = serde_json::from_str(species).map_err(|_| corrupt("species"))?;
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| corrupt("timestamp"))?
        .with_timezone(&chrono::Utc);
    Ok(Change {
        room: SPECIES_ROOM.to_owned(),
        revision,
        op,
        species,
        at,
    })
}

/// Creates or upgrades the schema; seeds the talk's two species into a new store.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    // WAL lets readers proceed during a write; FULL makes each commit durable
    // before the 2xx leaves, not just before the next checkpoint.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         CREATE TABLE IF NOT EXISTS species (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             name TEXT NOT NULL,
             observations INTEGER NOT NULL CHECK (observations >= 0),
             updated_at TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS changes (
             revision INTEGER PRIMARY KEY,
             op TEXT NOT NULL,
             species TEXT NOT NULL,
             at TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         PRAGMA user_version = 1;",
    )?;
    let seeded: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if seeded.is_none() {
        let stamp = pollpush_shared::time::format(&pollpush_shared::time::now());
        conn.execute_batch("BEGIN")?;
        for (id, name) in [(1, "AThaliana"), (2, "Tomate")] {
            conn.execute(
                "INSERT INTO species (id, name, observations, updated_at) VALUES (?1, ?2, 0, ?3)",
                params![id, name, stamp],
            )?;
        }
        conn.execute("INSERT INTO meta (key, value) VALUES ('revision', 0)", [])?;
        conn.execute_batch("COMMIT")?;
    }
    Ok(())
}

fn read_revision(conn: &Connection) -> Result<Revision, StoreError> {
    let value: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
        r.get(0)
    })?;
    Ok(value as u64)
}

fn read_species(conn: &Connection) -> Result<BTreeMap<SpeciesId, Species>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, name, observations, updated_at FROM species")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut map = BTreeMap::new();
    for row in rows {
        let (id, name, observations, stamp) = row?;
        let updated_at = chrono::DateTime::parse_from_rfc3339(&stamp)
            .map_err(|_| StoreError::Corrupt(format!("species {id}: timestamp")))?
            .with_timezone(&chrono::Utc);
        let id = id as u64;
        map.insert(
            id,
            Species {
                id,
                name,
                observations: observations as u64,
                updated_at,
            },
        );
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cached_snapshot_message_is_the_serialized_message() {
        let store = Store::open(":memory:", crate::feed::ChangeFeed::new(16).sender()).unwrap();
        let snapshot = store.snapshot();
        let expected = pollpush_shared::ServerMessage::Snapshot {
            room: SPECIES_ROOM.to_owned(),
            revision: snapshot.revision,
            species: snapshot.list(),
        };
        let built: serde_json::Value = serde_json::from_str(&snapshot.message()).unwrap();
        assert_eq!(built, serde_json::to_value(&expected).unwrap());
    }
}
