//! Errors of the server library.

use thiserror::Error;

/// Why the server could not start or a store operation failed.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
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
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store's worker thread is gone")]
    WorkerGone,
}
