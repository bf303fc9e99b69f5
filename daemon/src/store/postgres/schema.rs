//! Versioned migrations, embedded in the binary and recorded in `tessera_schema`.
//! Each runs in its own transaction that first claims its version: when several
//! daemons start at once on an empty database, one applies it and the others wait for
//! its commit and then find it applied. A database at a newer version than this build
//! knows is refused.

use super::{StoreError, error};
use crate::clock::Clock;
use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;

/// The migrations, in order; the last one's number is the schema version.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/001_initial.sql")),
    (2, include_str!("migrations/002_retiring_client_secret.sql")),
    (3, include_str!("migrations/003_refresh_parent_dropped.sql")),
    (4, include_str!("migrations/004_audit_request_id.sql")),
    (5, include_str!("migrations/005_openid_connect.sql")),
    (6, include_str!("migrations/006_second_factors.sql")),
    (7, include_str!("migrations/007_mfa_token_password.sql")),
];

/// The schema version this build writes.
pub const VERSION: u32 = 7;

/// Applies the migrations the database lacks.
pub(super) async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    create_version_table(client).await?;
    let found = current(client).await?;
    if found > VERSION {
        return Err(StoreError::SchemaTooNew { found, known: VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        let started = std::time::Instant::now();
        let tx = client.transaction().await.map_err(error)?;
        let claimed = tx
            .execute(
                "INSERT INTO tessera_schema (version, applied_at) VALUES ($1, $2)",
                &[&i64::from(*version), &crate::clock::SystemClock.now().unix_timestamp()],
            )
            .await;
        match claimed {
            Ok(_) => {}
            // Another daemon applied it while this one waited.
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => continue,
            Err(e) => return Err(error(e)),
        }
        tx.batch_execute(sql).await.map_err(error)?;
        tx.commit().await.map_err(error)?;
        tracing::info!(
            version,
            ms = started.elapsed().as_millis() as u64,
            "applied a database migration"
        );
    }
    Ok(())
}

/// The version the database is at (0: empty).
pub(super) async fn current(client: &Object) -> Result<u32, StoreError> {
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) AS v FROM tessera_schema", &[])
        .await
        .map_err(error)?;
    let v: i64 = super::col(&row, "tessera_schema", "v")?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        tree: "tessera_schema",
        detail: format!("version {v}"),
    })
}

async fn create_version_table(client: &Object) -> Result<(), StoreError> {
    const CREATE: &str =
        "CREATE TABLE IF NOT EXISTS tessera_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
    match client.batch_execute(CREATE).await {
        Ok(()) => Ok(()),
        // Two daemons creating it at the same moment: one wins, the table exists
        // (PostgreSQL reports the loser's `IF NOT EXISTS` as either error).
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) || e.code() == Some(&SqlState::DUPLICATE_TABLE) => {
            Ok(())
        }
        Err(e) => Err(error(e)),
    }
}
