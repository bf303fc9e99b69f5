//! Revoked access tokens (`denied_tokens`, jti → expiry). An entry is needed only
//! until the token it names expires; the purge deletes it then. Denying a token is
//! logged for the other daemons.

use super::changes::{Logged, log};
use super::{PgStore, StoreError, col, error};
use crate::store::Change;

impl PgStore {
    /// Puts an access token's `jti` on the deny-list until `exp`, and logs it.
    pub async fn deny(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        transaction!(self, tx, {
            tx.execute(
                "INSERT INTO denied_tokens (jti, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at",
                &[&jti, &exp],
            )
            .await
            .map_err(error)?;
            log(tx, Logged::from(&Change::Denied(jti.to_owned(), exp))).await
        })
    }

    /// The deny-list entries unexpired at `now`.
    pub async fn deny_list(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.select_all(
            "SELECT jti, expires_at FROM denied_tokens WHERE expires_at > $1",
            &[&now],
            |r| Ok((col(r, "denied_tokens", "jti")?, col(r, "denied_tokens", "expires_at")?)),
        )
        .await
    }

    /// How many deny-list entries are stored.
    pub async fn denied_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM denied_tokens").await
    }
}
