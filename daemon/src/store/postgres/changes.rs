//! The change log (table `changes`): every change another daemon's in-memory view must
//! learn is appended in the transaction that made it, stamped with the database's
//! clock at the insert (not the transaction's start). Each daemon reads back the rows
//! of the last [`WINDOW`] every poll, plus any older row it asks for by id (the gaps it
//! noticed in the ids, see `service/follow.rs`), and skips those it has applied: ids
//! are not committed in order, so "greater than the last id seen" could miss a row
//! that commits late. Rows older than [`KEPT`] are deleted.

use super::{PgStore, StoreError, col, error};
use crate::store::{Barred, Change, Revoked};
use std::time::Duration;
use uuid::Uuid;

/// How far back each poll reads: longer than any transaction takes to commit.
pub const WINDOW: Duration = Duration::from_secs(10);
/// How long rows stay: longer than a daemon waits for a gap in the ids to fill.
const KEPT: Duration = Duration::from_secs(600);

/// A change as stored: kind, subject and a time.
pub(super) struct Logged<'a> {
    kind: &'static str,
    subject: std::borrow::Cow<'a, str>,
    until: i64,
}

impl<'a> From<&'a Change> for Logged<'a> {
    fn from(change: &'a Change) -> Self {
        let (kind, subject, until) = match change {
            Change::SessionRevoked(r) => ("session", r.session_id.to_string().into(), r.until),
            Change::UserBarred(b) => ("barred", b.user_id.to_string().into(), b.until),
            Change::UserAdmitted(id) => ("admitted", id.to_string().into(), 0),
            Change::Denied(jti, exp) => ("denied", jti.as_str().into(), *exp),
            Change::Setting(name) => ("setting", name.as_str().into(), 0),
            Change::Keys => ("keys", "".into(), 0),
            Change::ClientChanged(id) => ("client", id.as_str().into(), 0),
        };
        Self { kind, subject, until }
    }
}

/// Appends `change` within `tx`.
pub(super) async fn log(tx: &deadpool_postgres::Transaction<'_>, change: Logged<'_>) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached("INSERT INTO changes (kind, subject, until, at) VALUES ($1, $2, $3, clock_timestamp())")
        .await
        .map_err(error)?;
    tx.execute(&stmt, &[&change.kind, &change.subject.as_ref(), &change.until])
        .await
        .map_err(error)?;
    Ok(())
}

fn parse(kind: &str, subject: String, until: i64) -> Option<Change> {
    let id = || Uuid::parse_str(&subject).ok();
    Some(match kind {
        "session" => Change::SessionRevoked(Revoked {
            session_id: id()?,
            until,
        }),
        "barred" => Change::UserBarred(Barred { user_id: id()?, until }),
        "admitted" => Change::UserAdmitted(id()?),
        "denied" => Change::Denied(subject, until),
        "setting" => Change::Setting(subject),
        "keys" => Change::Keys,
        "client" => Change::ClientChanged(subject),
        _ => return None,
    })
}

impl PgStore {
    /// The changes logged in the last [`WINDOW`] and those with an id in `also`, with
    /// their ids, in id order. A row this build cannot read (written by a newer one) is
    /// skipped with a warning.
    pub async fn recent_changes(&self, also: &[i64]) -> Result<Vec<(i64, Change)>, StoreError> {
        let sql = format!(
            "SELECT id, kind, subject, until FROM changes \
             WHERE at > now() - INTERVAL '{} seconds' OR id = ANY($1) ORDER BY id",
            WINDOW.as_secs()
        );
        reading!(self, c, {
            let stmt = c.prepare_cached(&sql).await.map_err(error)?;
            let rows = c.query(&stmt, &[&also]).await.map_err(error)?;
            let mut changes = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: i64 = col(row, "changes", "id")?;
                let kind: String = col(row, "changes", "kind")?;
                match parse(&kind, col(row, "changes", "subject")?, col(row, "changes", "until")?) {
                    Some(change) => changes.push((id, change)),
                    None => tracing::warn!(id, kind, "skipped a change-log row this build does not know"),
                }
            }
            Ok(changes)
        })
    }

    /// Deletes change-log rows older than [`KEPT`]; returns how many.
    pub async fn purge_changes(&self) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM changes WHERE at < now() - INTERVAL '{} seconds'",
            KEPT.as_secs()
        );
        transaction!(self, tx, { tx.execute(&sql, &[]).await.map_err(error) })
    }
}
