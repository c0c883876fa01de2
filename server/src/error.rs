//! Errors of the server library.

use thiserror::Error;

/// Why the server could not start or a store operation failed.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("broker {0}")]
    Broker(String),
    /// A `--feed` or its client could not be set up.
    #[error("feed: {0}")]
    Feed(String),
}

/// What a store operation can fail with; the REST layer maps each to a status.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("species {0} not found")]
    NotFound(u64),
    #[error("species {0} already exists")]
    Conflict(u64),
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Postgres(String),
    /// The database cannot be reached (refused, cut, or no answer in time).
    #[error("database unreachable: {0}")]
    Unavailable(String),
    #[error("bad database location {0}")]
    BadLocation(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store's worker thread is gone")]
    WorkerGone,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // A server-side error (constraint, syntax) has a code; anything else
        // is the connection: closed, cut, refused.
        match e.as_db_error() {
            Some(db) => Self::Postgres(format!("{}: {}", db.code().code(), db.message())),
            None => Self::Unavailable(innermost(&e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => Self::Unavailable(innermost(&other)),
        }
    }
}

/// The most specific message of an error chain ("Connection refused").
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}
