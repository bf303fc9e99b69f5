//! The audit trail (`audit`, numbered by the database) and the purge of what nothing
//! can use any more. The purge deletes in batches, so no statement holds many rows.

use super::{PgStore, StoreError, col, error};
use crate::store::{AUDIT_CAPACITY, AuditRecord, CODE_KEPT, EXPIRED_API_TOKEN_KEPT, Purged};

/// Rows one purge statement deletes at most.
const BATCH: i64 = 5_000;

impl PgStore {
    /// Appends an audit entry; returns its sequence number.
    pub async fn append_audit(&self, record: &AuditRecord) -> Result<u64, StoreError> {
        transaction!(self, tx, {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO audit (at, event, subject, origin, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING seq",
                )
                .await
                .map_err(error)?;
            let row = tx
                .query_one(
                    &stmt,
                    &[
                        &record.at,
                        &record.event,
                        &record.subject,
                        &record.origin,
                        &record.detail,
                        &record.request_id,
                    ],
                )
                .await
                .map_err(error)?;
            let seq: i64 = col(&row, "audit", "seq")?;
            Ok(u64::try_from(seq).unwrap_or(0))
        })
    }

    /// Deletes audit entries older than `before`, and the oldest past
    /// [`AUDIT_CAPACITY`]; returns how many.
    pub async fn purge_audit(&self, before: i64) -> Result<usize, StoreError> {
        let old = self.purge_batches("audit", "seq", "at < $1", before).await?;
        let capacity = i64::try_from(AUDIT_CAPACITY).unwrap_or(i64::MAX);
        let extra = transaction!(self, tx, {
            tx.execute(
                "DELETE FROM audit WHERE seq < (SELECT seq FROM audit ORDER BY seq DESC OFFSET $1 LIMIT 1)",
                &[&(capacity - 1)],
            )
            .await
            .map_err(error)
        })?;
        Ok(old + usize::try_from(extra).unwrap_or(0))
    }

    /// How many audit entries are kept.
    pub async fn audit_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM audit").await
    }

    /// The newest `limit` audit entries, oldest first.
    pub async fn audit_tail(&self, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError> {
        self.audit_before(u64::MAX, limit).await
    }

    /// The newest `limit` audit entries older than `before`, oldest first.
    pub async fn audit_before(&self, before: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let sql = "SELECT seq, at, event, subject, origin, detail, request_id FROM audit WHERE seq < $2 \
                   ORDER BY seq DESC LIMIT $1";
        let mut newest_first = self
            .select_all(sql, &[&limit, &before], |r| {
                let seq: i64 = col(r, "audit", "seq")?;
                Ok((
                    u64::try_from(seq).unwrap_or(0),
                    AuditRecord {
                        at: col(r, "audit", "at")?,
                        event: col(r, "audit", "event")?,
                        subject: col(r, "audit", "subject")?,
                        origin: col(r, "audit", "origin")?,
                        detail: col(r, "audit", "detail")?,
                        request_id: col(r, "audit", "request_id")?,
                    },
                ))
            })
            .await?;
        newest_first.reverse();
        Ok(newest_first)
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
