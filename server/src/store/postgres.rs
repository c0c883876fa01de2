//! The PostgreSQL backend, shared by every node of a cluster.
//!
//! Revisions stay contiguous across nodes because every write bumps one
//! counter row in its own transaction: the row lock orders writers, a
//! rolled-back write gives its number back, and the change record commits
//! with the data (a PostgreSQL sequence would leave holes). Every operation
//! has a deadline, so an unreachable database answers `Unavailable` (503)
//! within seconds instead of holding requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use pollpush_shared::{Change, ChangeOp, Revision, Species};
use tokio_postgres::NoTls;

use super::{
    Mutation, OPERATION_TIMEOUT, SEED, change, decode_change, prune_through, species_json,
    species_of,
};
use crate::error::StoreError;
use crate::snapshot::Snapshot;

/// Connections per node: writes are serialized per node anyway; the rest
/// serve history reads and the position check.
const POOL_SIZE: usize = 8;

/// Serializes schema creation when several nodes start at once.
const MIGRATION_LOCK: i64 = 0x706f_6c6c_7075_7368; // "pollpush"

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (
        id INT PRIMARY KEY CHECK (id = 1),
        revision BIGINT NOT NULL,
        next_id BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS species (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        observations BIGINT NOT NULL CHECK (observations >= 0),
        updated_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS changes (
        revision BIGINT PRIMARY KEY,
        op TEXT NOT NULL,
        species TEXT NOT NULL,
        at TEXT NOT NULL);";

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::BadLocation(format!("{url}: {e}")))?;
        config.connect_timeout(Duration::from_secs(3));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection the server closed is noticed by the client; one
                // cut silently fails its next query, which the caller retries.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .create_timeout(Some(Duration::from_secs(3)))
            .recycle_timeout(Some(Duration::from_secs(3)))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        deadline(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            // "relation already exists, skipping" on every start is noise.
            tx.batch_execute("SET LOCAL client_min_messages = warning")
                .await?;
            tx.batch_execute(SCHEMA).await?;
            tx.batch_execute(super::feeds::SCHEMA).await?;
            let new = tx
                .execute(
                    "INSERT INTO meta (id, revision, next_id) VALUES (1, 0, $1) ON CONFLICT DO NOTHING",
                    &[&(SEED.len() as i64 + 1)],
                )
                .await?
                == 1;
            if new {
                let stamp = pollpush_shared::time::format(&pollpush_shared::time::now());
                for (id, name) in SEED {
                    tx.execute(
                        "INSERT INTO species (id, name, observations, updated_at) VALUES ($1, $2, 0, $3)",
                        &[&(id as i64), &name, &stamp],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn load(&self) -> Result<Snapshot, StoreError> {
        deadline(async {
            let mut client = self.pool.get().await?;
            // One snapshot of the database for both reads.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let revision = read_revision(&tx).await?;
            let rows = tx
                .query(
                    "SELECT id, name, observations, updated_at FROM species",
                    &[],
                )
                .await?;
            let mut map = BTreeMap::new();
            for row in rows {
                let species = species_row(&row)?;
                map.insert(species.id, species);
            }
            tx.commit().await?;
            Ok(Snapshot::new(revision, Arc::new(map)))
        })
        .await
    }

    pub async fn latest(&self) -> Result<Revision, StoreError> {
        deadline(async {
            let client = self.pool.get().await?;
            read_revision(&client).await
        })
        .await
    }

    pub async fn write(&self, mutation: Mutation) -> Result<Change, StoreError> {
        deadline(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            // Taken first: the lock on this row orders every writer of every node.
            let row = tx
                .query_one(
                    "UPDATE meta SET revision = revision + 1 WHERE id = 1 RETURNING revision, next_id",
                    &[],
                )
                .await?;
            let revision = row.get::<_, i64>(0) as u64;
            let next_id: i64 = row.get(1);
            let at = pollpush_shared::time::now();
            let stamp = pollpush_shared::time::format(&at);
            // The species as stored: `updated_at` is `at`, or the last state for a delete.
            let (op, species) = apply(&tx, mutation, next_id, &stamp).await?;
            tx.execute(
                "INSERT INTO changes (revision, op, species, at) VALUES ($1, $2, $3, $4)",
                &[
                    &(revision as i64),
                    &op.as_str(),
                    &species_json(&species)?,
                    &stamp,
                ],
            )
            .await?;
            if let Some(through) = prune_through(revision) {
                tx.execute("DELETE FROM changes WHERE revision <= $1", &[&(through as i64)])
                    .await?;
            }
            tx.commit().await?;
            Ok(change(revision, op, species, at))
        })
        .await
    }

    pub async fn history(
        &self,
        since: Revision,
        limit: i64,
    ) -> Result<Option<Vec<Change>>, StoreError> {
        deadline(async {
            let client = self.pool.get().await?;
            let current = read_revision(&client).await?;
            if since > current {
                return Ok(None);
            }
            if since == current {
                return Ok(Some(Vec::new()));
            }
            // Writers commit in revision order (the counter row's lock), so the
            // table is always a contiguous run: its oldest row tells what is left.
            let oldest: Option<i64> = client
                .query_one("SELECT MIN(revision) FROM changes", &[])
                .await?
                .get(0);
            match oldest {
                Some(oldest) if oldest as u64 <= since + 1 => {}
                _ => return Ok(None),
            }
            let rows = client
                .query(
                    "SELECT revision, op, species, at FROM changes WHERE revision > $1 ORDER BY revision LIMIT $2",
                    &[&(since as i64), &limit],
                )
                .await?;
            let changes = rows
                .iter()
                .map(|r| decode_change(r.get::<_, i64>(0) as u64, r.get(1), r.get(2), r.get(3)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(changes))
        })
        .await
    }

    /// A pooled connection, for the feeds' queries (`feeds.rs`).
    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    pub fn close(&self) {
        self.pool.close();
    }
}

/// Runs one mutation inside the write's transaction; the species as stored.
async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    mutation: Mutation,
    next_id: i64,
    stamp: &str,
) -> Result<(ChangeOp, Species), StoreError> {
    const RETURNING: &str = "RETURNING id, name, observations, updated_at";
    match mutation {
        Mutation::Create(body) => {
            let id = body.id.map_or(next_id, |id| id as i64);
            let observations = body.observations.unwrap_or(0) as i64;
            let row = tx
                .query_opt(
                    &format!(
                        "INSERT INTO species (id, name, observations, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (id) DO NOTHING {RETURNING}"
                    ),
                    &[&id, &body.name, &observations, &stamp],
                )
                .await?
                .ok_or(StoreError::Conflict(id as u64))?;
            tx.execute(
                "UPDATE meta SET next_id = GREATEST(next_id, $1) WHERE id = 1",
                &[&(id + 1)],
            )
            .await?;
            Ok((ChangeOp::Created, species_row(&row)?))
        }
        Mutation::Replace(id, body) => {
            let observations = body.observations.map(|o| o as i64);
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE species SET name = $2, observations = COALESCE($3, observations),
                         updated_at = $4 WHERE id = $1 {RETURNING}"
                    ),
                    &[&(id as i64), &body.name, &observations, &stamp],
                )
                .await?
                .ok_or(StoreError::NotFound(id))?;
            Ok((ChangeOp::Updated, species_row(&row)?))
        }
        Mutation::Observe(id, delta) => {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE species SET observations = observations + $2, updated_at = $3
                         WHERE id = $1 {RETURNING}"
                    ),
                    &[&(id as i64), &(delta.min(i64::MAX as u64) as i64), &stamp],
                )
                .await?
                .ok_or(StoreError::NotFound(id))?;
            Ok((ChangeOp::Updated, species_row(&row)?))
        }
        Mutation::Delete(id) => {
            let row = tx
                .query_opt(
                    &format!("DELETE FROM species WHERE id = $1 {RETURNING}"),
                    &[&(id as i64)],
                )
                .await?
                .ok_or(StoreError::NotFound(id))?;
            Ok((ChangeOp::Deleted, species_row(&row)?))
        }
    }
}

async fn read_revision(client: &impl GenericClient) -> Result<Revision, StoreError> {
    let row = client
        .query_one("SELECT revision FROM meta WHERE id = 1", &[])
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

fn species_row(row: &tokio_postgres::Row) -> Result<Species, StoreError> {
    species_of(row.get(0), row.get(1), row.get(2), row.get::<_, &str>(3))
}

/// Runs `op` under the store's deadline: past it, the database counts as unreachable.
pub(super) async fn deadline<T>(
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {OPERATION_TIMEOUT:?}"
            )))
        })
}
