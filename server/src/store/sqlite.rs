//! The SQLite backend: one file (or `:memory:`), one process.
//!
//! Writes are serialized behind one connection (SQLite allows one writer
//! anyway) on a blocking thread; WAL with `synchronous=FULL` makes each
//! commit durable before the 2xx leaves, so acknowledged writes survive `kill -9`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use pollpush_shared::{Change, ChangeOp, Revision, Species, SpeciesId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Mutation, SEED, change, decode_change, prune_through, species_json, species_of};
use crate::error::StoreError;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let path = path.to_owned();
        blocking(move || {
            let conn = if path == ":memory:" {
                Connection::open_in_memory()?
            } else {
                Connection::open(Path::new(&path))?
            };
            migrate(&conn)?;
            Ok(Self {
                conn: Arc::new(Mutex::new(conn)),
            })
        })
        .await
    }

    pub(super) async fn with_conn<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        blocking(move || job(&mut conn.lock().unwrap_or_else(PoisonError::into_inner))).await
    }

    pub async fn load(&self) -> Result<Snapshot, StoreError> {
        self.with_conn(|conn| {
            let revision = read_revision(conn)?;
            Ok(Snapshot::new(revision, Arc::new(read_species(conn)?)))
        })
        .await
    }

    pub async fn latest(&self) -> Result<Revision, StoreError> {
        self.with_conn(|conn| read_revision(conn)).await
    }

    pub async fn write(&self, mutation: Mutation) -> Result<Change, StoreError> {
        self.with_conn(move |conn| write(conn, mutation)).await
    }

    pub async fn history(
        &self,
        since: Revision,
        limit: i64,
    ) -> Result<Option<Vec<Change>>, StoreError> {
        self.with_conn(move |conn| history(conn, since, limit))
            .await
    }

    /// Checkpoints the WAL so the database file is complete on its own.
    pub async fn close(&self) {
        let done = self
            .with_conn(|conn| Ok(conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?))
            .await;
        if let Err(e) = done {
            tracing::warn!("checkpoint on close failed: {e}");
        }
    }
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|_| StoreError::WorkerGone)?
}

fn write(conn: &mut Connection, mutation: Mutation) -> Result<Change, StoreError> {
    let tx = conn.transaction()?;
    let revision = read_revision(&tx)? + 1;
    let at = pollpush_shared::time::now();
    let stamp = pollpush_shared::time::format(&at);
    let (op, species) = match mutation {
        Mutation::Create(body) => {
            let observations = body.observations.unwrap_or(0);
            let id = match body.id {
                Some(id) if read_one(&tx, id)?.is_some() => return Err(StoreError::Conflict(id)),
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
            let old = read_one(&tx, id)?.ok_or(StoreError::NotFound(id))?;
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
            let old = read_one(&tx, id)?.ok_or(StoreError::NotFound(id))?;
            let species = Species {
                observations: old.observations.saturating_add(delta),
                updated_at: at,
                ..old
            };
            store_species(&tx, &species, &stamp)?;
            (ChangeOp::Updated, species)
        }
        Mutation::Delete(id) => {
            let old = read_one(&tx, id)?.ok_or(StoreError::NotFound(id))?;
            tx.execute("DELETE FROM species WHERE id = ?1", params![id as i64])?;
            (ChangeOp::Deleted, old)
        }
    };
    tx.execute(
        "INSERT INTO changes (revision, op, species, at) VALUES (?1, ?2, ?3, ?4)",
        params![revision as i64, op.as_str(), species_json(&species)?, stamp],
    )?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'revision'",
        params![revision as i64],
    )?;
    if let Some(through) = prune_through(revision) {
        tx.execute(
            "DELETE FROM changes WHERE revision <= ?1",
            params![through as i64],
        )?;
    }
    tx.commit()?;
    Ok(change(revision, op, species, at))
}

fn history(
    conn: &Connection,
    since: Revision,
    limit: i64,
) -> Result<Option<Vec<Change>>, StoreError> {
    let current = read_revision(conn)?;
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
        "SELECT revision, op, species, at FROM changes WHERE revision > ?1 ORDER BY revision LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![since as i64, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut changes = Vec::with_capacity(limit.clamp(0, 1024) as usize);
    for row in rows {
        let (revision, op, species, at) = row?;
        changes.push(decode_change(revision as u64, &op, &species, &at)?);
    }
    Ok(Some(changes))
}

fn store_species(tx: &Transaction<'_>, species: &Species, stamp: &str) -> Result<(), StoreError> {
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
    conn.execute_batch(super::feeds::SCHEMA)?;
    let seeded: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if seeded.is_none() {
        let stamp = pollpush_shared::time::format(&pollpush_shared::time::now());
        conn.execute_batch("BEGIN")?;
        for (id, name) in SEED {
            conn.execute(
                "INSERT INTO species (id, name, observations, updated_at) VALUES (?1, ?2, 0, ?3)",
                params![id as i64, name, stamp],
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

type Row = (i64, String, i64, String);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn species_from((id, name, observations, stamp): Row) -> Result<Species, StoreError> {
    species_of(id, name, observations, &stamp)
}

fn read_one(conn: &Connection, id: SpeciesId) -> Result<Option<Species>, StoreError> {
    conn.query_row(
        "SELECT id, name, observations, updated_at FROM species WHERE id = ?1",
        params![id as i64],
        row,
    )
    .optional()?
    .map(species_from)
    .transpose()
}

fn read_species(conn: &Connection) -> Result<BTreeMap<SpeciesId, Species>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, name, observations, updated_at FROM species")?;
    let rows = stmt.query_map([], row)?;
    let mut map = BTreeMap::new();
    for r in rows {
        let species = species_from(r?)?;
        map.insert(species.id, species);
    }
    Ok(map)
}
