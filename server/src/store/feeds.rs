//! The gateway's feeds in the store: each feed's last upstream body and its
//! revision, and its recent changes as sent on `/ws`. The node that polls a
//! feed writes here before its subscribers see a change, so `since` resumes
//! from the store on any node once memory no longer covers it, and a node
//! that restarts carries on from the stored revision instead of 0.
//!
//! Both backends keep the same two tables; a feed is keyed by its name.

use pollpush_shared::Revision;
use rusqlite::{OptionalExtension, params};

use super::postgres::{PgStore, deadline};
use super::sqlite::SqliteStore;
use super::{HISTORY_KEEP, Store};
use crate::error::StoreError;

/// The tables, in SQL both backends accept.
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS feed_state (
        feed TEXT PRIMARY KEY,
        revision BIGINT NOT NULL,
        body TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS feed_changes (
        feed TEXT NOT NULL,
        revision BIGINT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (feed, revision));";

/// A feed as last stored: the revision, and the upstream's body that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeed {
    pub revision: Revision,
    pub body: String,
}

/// One poll's changes, ready to store: the revision they follow, each
/// revision with its message, and the body the feed is at after them.
#[derive(Debug, Clone)]
pub struct FeedWrite {
    pub feed: String,
    pub before: Revision,
    pub changes: Vec<(Revision, String)>,
    pub after: Revision,
    pub body: String,
}

/// What [`Store::feed_append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    Written,
    /// Nothing: the stored feed is not at the write's `before` (another
    /// poller wrote meanwhile, or this node's memory is behind). Here is
    /// where it is, for the node to start again from.
    Moved(StoredFeed),
}

impl Store {
    /// The feed's stored state, if it was ever stored.
    pub async fn feed_state(&self, feed: &str) -> Result<Option<StoredFeed>, StoreError> {
        match self {
            Self::Sqlite(s) => sqlite_state(s, feed.to_owned()).await,
            Self::Postgres(s) => pg_state(s, feed).await,
        }
    }

    /// Stores one poll's changes and the state after them, in one
    /// transaction, if the stored feed is still at `before`; older changes
    /// past [`HISTORY_KEEP`] go. So the stored history is one line, even when
    /// two nodes briefly both poll around a lease handover.
    pub async fn feed_append(&self, write: FeedWrite) -> Result<Appended, StoreError> {
        match self {
            Self::Sqlite(s) => sqlite_append(s, write).await,
            Self::Postgres(s) => pg_append(s, &write).await,
        }
    }

    /// The feed's messages after `since` through `through`, oldest first, or
    /// `None` when the store lacks any of them (pruned, never stored, or
    /// another timeline), so that the caller resyncs instead.
    pub async fn feed_history(
        &self,
        feed: &str,
        since: Revision,
        through: Revision,
    ) -> Result<Option<Vec<(Revision, String)>>, StoreError> {
        if through <= since {
            return Ok(Some(Vec::new()));
        }
        if through - since > HISTORY_KEEP {
            return Ok(None);
        }
        let rows = match self {
            Self::Sqlite(s) => sqlite_history(s, feed.to_owned(), since, through).await?,
            Self::Postgres(s) => pg_history(s, feed, since, through).await?,
        };
        // Contiguous, or not at all: a hole would be a silent loss.
        let whole = rows.len() as u64 == through - since
            && rows
                .iter()
                .zip(since + 1..)
                .all(|((revision, _), want)| *revision == want);
        Ok(whole.then_some(rows))
    }
}

fn revision_of(value: i64) -> Revision {
    value.max(0) as Revision
}

fn stored(revision: i64, body: String) -> StoredFeed {
    StoredFeed {
        revision: revision_of(revision),
        body,
    }
}

/// The revision at and below which a write at `after` prunes.
fn prune_at(after: Revision) -> i64 {
    after.saturating_sub(HISTORY_KEEP) as i64
}

async fn sqlite_state(s: &SqliteStore, feed: String) -> Result<Option<StoredFeed>, StoreError> {
    s.with_conn(move |conn| {
        Ok(conn
            .query_row(
                "SELECT revision, body FROM feed_state WHERE feed = ?1",
                params![feed],
                |r| Ok(stored(r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    })
    .await
}

async fn sqlite_append(s: &SqliteStore, write: FeedWrite) -> Result<Appended, StoreError> {
    s.with_conn(move |conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let at = tx
            .query_row(
                "SELECT revision, body FROM feed_state WHERE feed = ?1",
                params![write.feed],
                |r| Ok(stored(r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some(at) = at.filter(|at| at.revision != write.before) {
            return Ok(Appended::Moved(at));
        }
        for (revision, message) in &write.changes {
            tx.execute(
                "INSERT INTO feed_changes (feed, revision, message) VALUES (?1, ?2, ?3)
                 ON CONFLICT (feed, revision) DO UPDATE SET message = excluded.message",
                params![write.feed, *revision as i64, message],
            )?;
        }
        tx.execute(
            "INSERT INTO feed_state (feed, revision, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (feed) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            params![write.feed, write.after as i64, write.body],
        )?;
        tx.execute(
            "DELETE FROM feed_changes WHERE feed = ?1 AND revision <= ?2",
            params![write.feed, prune_at(write.after)],
        )?;
        tx.commit()?;
        Ok(Appended::Written)
    })
    .await
}

async fn sqlite_history(
    s: &SqliteStore,
    feed: String,
    since: Revision,
    through: Revision,
) -> Result<Vec<(Revision, String)>, StoreError> {
    s.with_conn(move |conn| {
        let mut statement = conn.prepare_cached(
            "SELECT revision, message FROM feed_changes
             WHERE feed = ?1 AND revision > ?2 AND revision <= ?3 ORDER BY revision",
        )?;
        let rows = statement
            .query_map(params![feed, since as i64, through as i64], |r| {
                Ok((revision_of(r.get(0)?), r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })
    .await
}

async fn pg_state(s: &PgStore, feed: &str) -> Result<Option<StoredFeed>, StoreError> {
    deadline(async {
        let client = s.client().await?;
        let row = client
            .query_opt(
                "SELECT revision, body FROM feed_state WHERE feed = $1",
                &[&feed],
            )
            .await?;
        Ok(row.map(|r| stored(r.get(0), r.get(1))))
    })
    .await
}

async fn pg_append(s: &PgStore, write: &FeedWrite) -> Result<Appended, StoreError> {
    deadline(async {
        let mut client = s.client().await?;
        let tx = client.transaction().await?;
        let at = tx
            .query_opt(
                "SELECT revision, body FROM feed_state WHERE feed = $1 FOR UPDATE",
                &[&write.feed],
            )
            .await?
            .map(|r| stored(r.get(0), r.get(1)));
        let state = match at {
            Some(at) if at.revision != write.before => return Ok(Appended::Moved(at)),
            Some(_) => {
                "UPDATE feed_state SET revision = $2, body = $3 WHERE feed = $1"
            }
            // The first write: a concurrent first write makes this one's insert
            // wait, then conflict, and it is refused below.
            None => "INSERT INTO feed_state (feed, revision, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        };
        if tx
            .execute(state, &[&write.feed, &(write.after as i64), &write.body])
            .await?
            == 0
        {
            drop(tx);
            let at = pg_state(s, &write.feed).await?;
            let gone = || StoreError::Corrupt(format!("feed {}: its state vanished", write.feed));
            return Ok(Appended::Moved(at.ok_or_else(gone)?));
        }
        for (revision, message) in &write.changes {
            tx.execute(
                "INSERT INTO feed_changes (feed, revision, message) VALUES ($1, $2, $3)
                 ON CONFLICT (feed, revision) DO UPDATE SET message = excluded.message",
                &[&write.feed, &(*revision as i64), message],
            )
            .await?;
        }
        tx.execute(
            "DELETE FROM feed_changes WHERE feed = $1 AND revision <= $2",
            &[&write.feed, &prune_at(write.after)],
        )
        .await?;
        tx.commit().await?;
        Ok(Appended::Written)
    })
    .await
}

async fn pg_history(
    s: &PgStore,
    feed: &str,
    since: Revision,
    through: Revision,
) -> Result<Vec<(Revision, String)>, StoreError> {
    deadline(async {
        let client = s.client().await?;
        let rows = client
            .query(
                "SELECT revision, message FROM feed_changes
                 WHERE feed = $1 AND revision > $2 AND revision <= $3 ORDER BY revision",
                &[&feed, &(since as i64), &(through as i64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (revision_of(r.get(0)), r.get(1)))
            .collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(before: Revision, changes: &[Revision]) -> FeedWrite {
        let after = changes.last().copied().unwrap_or(before);
        FeedWrite {
            feed: "t".to_owned(),
            before,
            changes: changes.iter().map(|r| (*r, format!("m{r}"))).collect(),
            after,
            body: format!("[{after}]"),
        }
    }

    #[tokio::test]
    async fn history_is_one_line_whole_or_none() {
        let store = Store::open(":memory:").await.expect("a store");
        assert_eq!(store.feed_state("t").await.expect("read"), None);
        let written = store
            .feed_append(write(0, &[1, 2, 3]))
            .await
            .expect("write");
        assert_eq!(written, Appended::Written);
        let all = store.feed_history("t", 0, 3).await.expect("read");
        let texts = all.map(|rows| {
            rows.into_iter()
                .map(|(r, m)| format!("{r}{m}"))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            texts,
            Some(vec!["1m1".to_owned(), "2m2".to_owned(), "3m3".to_owned()])
        );
        // Beyond what is stored: none, so the client resyncs.
        assert_eq!(store.feed_history("t", 0, 4).await.expect("read"), None);
        assert_eq!(store.feed_history("other", 0, 1).await.expect("read"), None);
        // A poller whose memory is behind the store writes nothing, and
        // learns where the store is.
        let late = store.feed_append(write(2, &[3])).await.expect("write");
        let at = StoredFeed {
            revision: 3,
            body: "[3]".to_owned(),
        };
        assert_eq!(late, Appended::Moved(at));
        assert_eq!(
            store.feed_history("t", 2, 3).await.expect("read"),
            Some(vec![(3, "m3".to_owned())])
        );
        store.feed_append(write(3, &[4, 5])).await.expect("write");
        assert_eq!(
            store
                .feed_history("t", 3, 5)
                .await
                .expect("read")
                .map(|r| r.len()),
            Some(2)
        );
        let state = store.feed_state("t").await.expect("read").expect("stored");
        assert_eq!((state.revision, state.body.as_str()), (5, "[5]"));
    }
}
