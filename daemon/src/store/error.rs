//! Failures of the store.

use super::Unique;

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt {
        /// The tree holding it.
        tree: &'static str,
        /// What failed.
        detail: String,
    },
    /// The store exists but its schema record is missing or unreadable: damaged, or
    /// not Tessera's. Starting empty would overwrite it.
    #[error(
        "the store in {dir} is damaged or not Tessera's ({problem}); refusing to start over it: restore it from a backup, or move it aside to start empty"
    )]
    Damaged {
        /// The store directory.
        dir: String,
        /// What is wrong.
        problem: String,
    },
    /// Another process holds the store (another tesserad on this data directory).
    #[error("{dir} is locked by another process (another tesserad on this data directory?)")]
    Locked {
        /// The store directory.
        dir: String,
    },
    /// The data was written by a newer Tessera.
    #[error("data schema version {found} is newer than this build supports ({known})")]
    SchemaTooNew {
        /// Version found in the store.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A backup file cannot be used, or a restore has nowhere to go.
    #[error("backup: {0}")]
    Backup(String),
    /// The database cannot be reached, or a transient failure outlasted the retries:
    /// the request may be tried again later (503 with `Retry-After`).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The connection broke during a COMMIT: the change may or may not have been made.
    /// Not retried; the caller answers 503, like [`StoreError::Unavailable`].
    #[error("database connection lost while committing; the change may or may not have been made: {0}")]
    CommitUnknown(String),
    /// This backend does not offer the operation.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A migration cannot go on (the target is not empty, or counts disagree).
    #[error("migration: {0}")]
    Migration(String),
    /// A unique index already holds the value.
    #[error("{0} already taken")]
    Taken(Unique),
}
