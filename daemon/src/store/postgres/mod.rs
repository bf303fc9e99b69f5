//! The PostgreSQL store: N daemons sharing one database (PostgreSQL, or CockroachDB:
//! only SQL both accept, no advisory locks, no LISTEN/NOTIFY).
//!
//! This file connects ([`connect`]: the URL from a file, TLS per its `sslmode`, a
//! bounded retry at start), runs the embedded migrations ([`schema`]), runs every
//! operation in a transaction that is retried when the database asks (serialization
//! failures, deadlocks) or a connection drops, a bounded number of times, after which
//! the caller gets [`StoreError::Unavailable`] (503 with `Retry-After`), and holds the
//! purge of expired records, which deletes in batches so that no statement holds many
//! rows. Each kind of record has its own file, named as in the embedded store:
//! [`users`], [`sessions`] (with refresh tokens), [`revocations`] (revoked sessions,
//! barred users and the token horizon), [`api_tokens`], [`clients`], [`keys`],
//! [`links`] (link tokens sent by mail), [`browser`] (browser sessions' cookies),
//! [`codes`] (authorization codes), [`grants`] (consents), [`settings`], [`audit`],
//! [`denylist`]; [`changes`] is the change log every daemon polls, and [`import`]
//! fills an empty database from another store (`tesserad migrate`). Commits are
//! synchronous (`synchronous_commit` is set on for every connection), so acknowledged
//! means committed.

/// Runs `$body` (which uses `$tx`, a transaction, and may `?` or `return`) and
/// commits unless it failed, retrying
/// what the database says may succeed if retried: the value of the last attempt.
/// A macro rather than a function taking a closure, so that the future stays `Send`.
macro_rules! transaction {
    ($store:expr, $tx:ident, $body:block) => {{
        let mut attempt = 1;
        loop {
            let outcome = tokio::time::timeout($crate::store::postgres::ATTEMPT_TIMEOUT, async {
                let mut client = $store.connection().await?;
                let $tx = client.transaction().await.map_err($crate::store::postgres::error)?;
                // Its own block, so that a `return` in `$body` still commits.
                let value: Result<_, StoreError> = async {
                    let $tx = &$tx;
                    $body
                }
                .await;
                let value = value?;
                $tx.commit().await.map_err($crate::store::postgres::commit_error)?;
                Ok(value)
            })
            .await;
            match $store.settle(outcome, attempt).await {
                Some(settled) => break settled,
                None => attempt += 1,
            }
        }
    }};
}

/// Runs `$body` (which uses `$c`, a pooled connection, and may `?`) outside an
/// explicit transaction, with the same retries as [`transaction!`].
macro_rules! reading {
    ($store:expr, $c:ident, $body:block) => {{
        let mut attempt = 1;
        loop {
            let outcome = tokio::time::timeout($crate::store::postgres::ATTEMPT_TIMEOUT, async {
                let $c = $store.connection().await?;
                let value: Result<_, StoreError> = async {
                    let $c = &$c;
                    $body
                }
                .await;
                value
            })
            .await;
            match $store.settle(outcome, attempt).await {
                Some(settled) => break settled,
                None => attempt += 1,
            }
        }
    }};
}

mod api_tokens;
mod audit;
mod browser;
mod changes;
mod clients;
mod codes;
mod connect;
mod denylist;
mod factors;
mod grants;
mod import;
mod keys;
mod links;
mod revocations;
mod schema;
mod sessions;
mod settings;
mod users;

pub use connect::PostgresUrl;

use super::{CODE_KEPT, EXPIRED_API_TOKEN_KEPT, Purged, StoreError};
use deadpool_postgres::{Object, Pool};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};

/// Attempts of one transaction before the caller is told to retry later.
const ATTEMPTS: u32 = 4;
/// Longest one attempt may take (a database that stopped answering).
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows one purge statement deletes at most.
const BATCH: i64 = 5_000;

/// Handle to the database. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PgStore {
    pool: Pool,
    /// Seconds revocations are kept (the token horizon); 0 until raised.
    horizon: AtomicI64,
    /// False once an operation or a poll could not reach the database; true again on
    /// the next success.
    reachable: AtomicBool,
}

impl PgStore {
    /// Connects with `url` and a pool of `pool_size` connections, retrying for up to
    /// `patience`, then brings the schema up to date.
    pub async fn open(url: &PostgresUrl, pool_size: usize, patience: Duration) -> Result<Self, StoreError> {
        let pool = connect::pool(url, pool_size)?;
        let store = Self {
            pool,
            horizon: AtomicI64::new(0),
            reachable: AtomicBool::new(true),
        };
        let started = std::time::Instant::now();
        let mut client = loop {
            match store.pool.get().await {
                Ok(client) => break client,
                Err(e) if started.elapsed() < patience => {
                    let error = describe(&e);
                    tracing::warn!(server = %url.server(), %error, "PostgreSQL not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(StoreError::Unavailable(format!(
                        "cannot reach PostgreSQL at {} after {} s: {}",
                        url.server(),
                        patience.as_secs(),
                        describe(&e)
                    )));
                }
            }
        };
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    /// The outcome of one attempt, or `None` when it should be tried again (after a
    /// short pause); records whether the database was reached.
    async fn settle<T>(
        &self,
        outcome: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
        attempt: u32,
    ) -> Option<Result<T, StoreError>> {
        let outcome =
            outcome.unwrap_or_else(|_| Err(StoreError::Unavailable("the database did not answer in time".into())));
        match outcome {
            Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "retrying a database operation");
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                None
            }
            Err(e) => {
                if matches!(e, StoreError::Unavailable(_) | StoreError::CommitUnknown(_)) {
                    self.reachable.store(false, Ordering::Relaxed);
                }
                Some(Err(e))
            }
            Ok(value) => {
                self.reachable.store(true, Ordering::Relaxed);
                Some(Ok(value))
            }
        }
    }

    /// The row `sql` selects with `params`, if any, as `from` reads it (a cached
    /// statement; retried like every read).
    async fn select_one<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        from: impl Fn(&Row) -> Result<T, StoreError> + Send + Sync,
    ) -> Result<Option<T>, StoreError> {
        reading!(self, c, {
            let stmt = c.prepare_cached(sql).await.map_err(error)?;
            c.query_opt(&stmt, params)
                .await
                .map_err(error)?
                .as_ref()
                .map(&from)
                .transpose()
        })
    }

    /// Every row `sql` selects with `params`, as `from` reads it.
    async fn select_all<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        from: impl Fn(&Row) -> Result<T, StoreError> + Send + Sync,
    ) -> Result<Vec<T>, StoreError> {
        reading!(self, c, {
            let stmt = c.prepare_cached(sql).await.map_err(error)?;
            c.query(&stmt, params).await.map_err(error)?.iter().map(&from).collect()
        })
    }

    async fn connection(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("no database connection: {}", describe(&e))))
    }

    /// Nothing to wait for: every transaction committed synchronously before it
    /// returned.
    pub async fn commit(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// True while the last operation or poll reached the database.
    pub fn is_healthy(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Deletes what nothing can use any more at `now` (see [`Purged`]).
    pub async fn purge_expired(&self, now: i64) -> Result<Purged, StoreError> {
        let api_cutoff = now.saturating_sub(EXPIRED_API_TOKEN_KEPT);
        let code_cutoff = now.saturating_sub(CODE_KEPT);
        let ended = "session_id IN (SELECT id FROM sessions WHERE revoked_at IS NOT NULL OR expires_at <= $1)";
        Ok(Purged {
            refresh_tokens: self
                .purge_batches("refresh_tokens", "digest", "expires_at <= $1", now)
                .await?,
            browser_cookies: self.purge_batches("browser_cookies", "digest", ended, now).await?,
            sessions: self.purge_batches("sessions", "id", "expires_at <= $1", now).await?,
            api_tokens: self
                .purge_batches("api_tokens", "digest", "expires_at <= $1", api_cutoff)
                .await?,
            denied: self
                .purge_batches("denied_tokens", "jti", "expires_at <= $1", now)
                .await?,
            revocations: self
                .purge_batches("revoked_sessions", "session_id", "until <= $1", now)
                .await?
                + self
                    .purge_batches("barred_users", "user_id", "until <= $1", now)
                    .await?,
            links: self.purge_batches("links", "digest", "expires_at <= $1", now).await?,
            codes: self
                .purge_batches("codes", "digest", "expires_at <= $1", code_cutoff)
                .await?,
            mfa_tokens: self
                .purge_batches("mfa_tokens", "digest", "expires_at <= $1", now)
                .await?,
        })
    }

    /// Deletes the rows of `table` (keyed by `key`) where `condition` holds of `$1 =
    /// bound`, [`BATCH`] at a time until none is left; returns how many went.
    async fn purge_batches(&self, table: &str, key: &str, condition: &str, bound: i64) -> Result<usize, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT $2)");
        let mut total = 0usize;
        loop {
            let n = transaction!(self, tx, { tx.execute(&sql, &[&bound, &BATCH]).await.map_err(error) })?;
            total += usize::try_from(n).unwrap_or(0);
            if n < u64::try_from(BATCH).unwrap_or(0) {
                return Ok(total);
            }
        }
    }
}

/// A database error as a store error: a transient one (serialization failure,
/// deadlock, lost connection, server shutting down) as [`StoreError::Unavailable`]
/// after its retries, any other as [`StoreError::Engine`].
pub(super) fn error(e: tokio_postgres::Error) -> StoreError {
    let transient = match e.code() {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || code.code().starts_with("08")
        }
        None => true,
    };
    if transient {
        StoreError::Unavailable(describe(&e))
    } else {
        StoreError::Engine(describe(&e))
    }
}

/// An error with the errors that caused it (a TLS handshake failure says why).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// A failed COMMIT: when the server answered (a serialization failure, say), the
/// transaction is known to be undone, as for any statement; when the connection broke,
/// it may or may not have committed, and running it again could apply it twice (a
/// rotation would then find its own token rotated and call it a replay), so it is
/// not retried.
pub(super) fn commit_error(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(_) => error(e),
        None => StoreError::CommitUnknown(describe(&e)),
    }
}

fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

/// Column `name` of `row`, or a corrupt-record error naming `table`.
fn col<'a, T: FromSql<'a>>(row: &'a Row, table: &'static str, name: &str) -> Result<T, StoreError> {
    row.try_get(name).map_err(|e| StoreError::Corrupt {
        tree: table,
        detail: format!("{name}: {e}"),
    })
}

/// A digest as the database stores it.
fn bytes(digest: &[u8; 32]) -> &[u8] {
    digest.as_slice()
}

#[cfg(test)]
mod tests;
