//! Signing keys (`signing_keys`). At most one key is active (a unique index), so of
//! two daemons making or rotating a key at once, one is told the key is taken.
//! Changing the keys is logged for the other daemons.

use super::changes::{Logged, log};
use super::{PgStore, StoreError, col, error};
use crate::records::KeyKind;
use crate::store::{Change, KeyRecord, Unique};
use tokio_postgres::error::SqlState;

impl PgStore {
    /// Every signing key, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        const T: &str = "signing_keys";
        let sql = "SELECT kid, secret, created_at, retired_at, kind FROM signing_keys ORDER BY created_at, kid";
        self.select_all(sql, &[], |r| {
            let kind: String = col(r, T, "kind")?;
            Ok(KeyRecord {
                kid: col(r, T, "kid")?,
                secret: col(r, T, "secret")?,
                created_at: col(r, T, "created_at")?,
                retired_at: col(r, T, "retired_at")?,
                kind: KeyKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    tree: T,
                    detail: format!("unknown key kind {kind:?}"),
                })?,
            })
        })
        .await
    }

    /// Inserts or replaces signing keys in one transaction, and logs the change.
    pub async fn put_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        transaction!(self, tx, {
            // Retirements first: the new active key must find no other.
            for k in keys
                .iter()
                .filter(|k| k.retired_at.is_some())
                .chain(keys.iter().filter(|k| k.retired_at.is_none()))
            {
                let stored = tx
                    .execute(
                        "INSERT INTO signing_keys (kid, secret, created_at, retired_at, kind) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO UPDATE SET secret = excluded.secret, \
                         created_at = excluded.created_at, retired_at = excluded.retired_at, kind = excluded.kind",
                        &[&k.kid, &k.secret, &k.created_at, &k.retired_at, &k.kind.name()],
                    )
                    .await;
                match stored {
                    Ok(_) => {}
                    // Another daemon made or rotated a key at the same moment.
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                        return Err(StoreError::Taken(Unique::ActiveKey));
                    }
                    Err(e) => return Err(error(e)),
                }
            }
            log(tx, Logged::from(&Change::Keys)).await
        })
    }

    /// Deletes the signing key `kid`, and logs the change.
    pub async fn remove_key(&self, kid: &str) -> Result<(), StoreError> {
        transaction!(self, tx, {
            tx.execute("DELETE FROM signing_keys WHERE kid = $1", &[&kid])
                .await
                .map_err(error)?;
            log(tx, Logged::from(&Change::Keys)).await
        })
    }
}
