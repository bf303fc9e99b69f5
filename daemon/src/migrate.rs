//! `tesserad migrate --from-data-dir DIR --to-postgres URL_FILE`: copies a stopped
//! daemon's embedded store into an empty PostgreSQL database, so that outgrowing one
//! machine keeps every account, session, token, client and key. The copy is one
//! transaction whose row counts are checked against what was read before it commits.

use crate::store::transfer::Copied;
use crate::store::{PgStore, PostgresUrl, SledStore, StoreError};
use std::path::Path;
use std::time::Duration;

/// Connections the copy uses.
const POOL: usize = 2;
/// How long to wait for the database to answer.
const PATIENCE: Duration = Duration::from_secs(10);

/// Why a migration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Nothing was written (exit 2): no store, a running daemon holds it, the URL file
    /// is unusable, or the database is not empty.
    #[error("{0}")]
    Refused(String),
    /// The copy failed and was rolled back (exit 1).
    #[error("{0}")]
    Failed(String),
}

/// Copies the embedded store in `data_dir` into the database named in `url_file`.
pub async fn to_postgres(data_dir: &Path, url_file: &Path) -> Result<Copied, MigrateError> {
    if !data_dir.join("store").join("db").exists() {
        return Err(MigrateError::Refused(format!("no store in {}", data_dir.display())));
    }
    let url = PostgresUrl::read(url_file).map_err(MigrateError::Refused)?;
    let source = SledStore::open(data_dir).map_err(|e| MigrateError::Refused(e.to_string()))?;
    let target = PgStore::open(&url, POOL, PATIENCE)
        .await
        .map_err(|e| MigrateError::Refused(e.to_string()))?;
    target.import(source.export()).await.map_err(|e| match e {
        StoreError::Migration(why) if why.contains("not empty") => MigrateError::Refused(why),
        other => MigrateError::Failed(other.to_string()),
    })
}
