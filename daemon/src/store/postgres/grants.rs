//! Consents: which scopes a user granted to a client at the consent page (`grants`,
//! keyed by user id and client id).

use super::{PgStore, StoreError, col, error};
use crate::store::GrantRecord;
use uuid::Uuid;

impl PgStore {
    /// Stores (or replaces) `user_id`'s consent to `client_id`.
    pub async fn put_grant(&self, user_id: Uuid, client_id: &str, grant: &GrantRecord) -> Result<(), StoreError> {
        transaction!(self, tx, {
            tx.execute(
                "INSERT INTO grants (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
                 granted_at = excluded.granted_at",
                &[&user_id, &client_id, &grant.scopes, &grant.granted_at],
            )
            .await
            .map_err(error)?;
            Ok(())
        })
    }

    /// `user_id`'s consent to `client_id`.
    pub async fn grant(&self, user_id: Uuid, client_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let sql = "SELECT scopes, granted_at FROM grants WHERE user_id = $1 AND client_id = $2";
        self.select_one(sql, &[&user_id, &client_id], |r| {
            Ok(GrantRecord {
                scopes: col(r, "grants", "scopes")?,
                granted_at: col(r, "grants", "granted_at")?,
            })
        })
        .await
    }

    /// `user_id`'s consents, in client id order.
    pub async fn grants_of(&self, user_id: Uuid) -> Result<Vec<(String, GrantRecord)>, StoreError> {
        let sql = "SELECT client_id, scopes, granted_at FROM grants WHERE user_id = $1 ORDER BY client_id";
        self.select_all(sql, &[&user_id], |r| {
            Ok((
                col(r, "grants", "client_id")?,
                GrantRecord {
                    scopes: col(r, "grants", "scopes")?,
                    granted_at: col(r, "grants", "granted_at")?,
                },
            ))
        })
        .await
    }

    /// Withdraws `user_id`'s consent to `client_id`; false if there was none.
    pub async fn remove_grant(&self, user_id: Uuid, client_id: &str) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let n = tx
                .execute(
                    "DELETE FROM grants WHERE user_id = $1 AND client_id = $2",
                    &[&user_id, &client_id],
                )
                .await
                .map_err(error)?;
            Ok(n > 0)
        })
    }

    /// Removes every consent to `client_id`; returns how many.
    pub async fn remove_grants_to(&self, client_id: &str) -> Result<u64, StoreError> {
        transaction!(self, tx, {
            tx.execute("DELETE FROM grants WHERE client_id = $1", &[&client_id])
                .await
                .map_err(error)
        })
    }
}
