//! The audit trail (`audit`, numbered by the database): the newest [`AUDIT_CAPACITY`]
//! kept, and none older than the retention the service purges by
//! ([`PgStore::purge_audit`], which deletes in batches like the purge in [`super`]).

use super::{PgStore, StoreError, col, error};
use crate::store::{AUDIT_CAPACITY, AuditRecord};

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
}
