//! What can still end a token before it expires: revoked sessions (`revoked_sessions`)
//! and barred users (`barred_users`), each kept until `until`, and the token horizon
//! (the longest access-token lifetime ever configured, row `token_horizon` in `meta`),
//! which bounds how long they are kept. They are written in the transaction that
//! causes them (revoking a session, disabling or deleting a user).

use super::{PgStore, StoreError, col, error};
use crate::store::{Barred, Revoked};
use std::sync::atomic::Ordering;

impl PgStore {
    /// Raises the stored token horizon to `configured` if lower; returns it.
    pub async fn raise_token_horizon(&self, configured: i64) -> Result<i64, StoreError> {
        let horizon = transaction!(self, tx, {
            let row = tx
                .query_one(
                    "INSERT INTO meta (name, value) VALUES ('token_horizon', $1) \
                         ON CONFLICT (name) DO UPDATE SET value = GREATEST(meta.value, excluded.value) \
                         RETURNING value",
                    &[&configured],
                )
                .await
                .map_err(error)?;
            col::<i64>(&row, "meta", "value")
        })?;
        self.horizon.store(horizon, Ordering::Relaxed);
        Ok(horizon)
    }

    /// Until when an entry made at `now` for a token family ending by `end` at the
    /// latest must stay (as in the embedded store).
    pub(super) fn kept_until(&self, now: i64, end: i64) -> i64 {
        match self.horizon.load(Ordering::Relaxed) {
            0 => end,
            horizon => end.min(now.saturating_add(horizon)),
        }
    }

    /// The revoked sessions and barred users still needed at `now`.
    pub async fn revocations(&self, now: i64) -> Result<(Vec<Revoked>, Vec<Barred>), StoreError> {
        let revoked = self
            .select_all(
                "SELECT session_id, until FROM revoked_sessions WHERE until > $1",
                &[&now],
                |r| {
                    Ok(Revoked {
                        session_id: col(r, "revoked_sessions", "session_id")?,
                        until: col(r, "revoked_sessions", "until")?,
                    })
                },
            )
            .await?;
        let barred = self
            .select_all(
                "SELECT user_id, until FROM barred_users WHERE until > $1",
                &[&now],
                |r| {
                    Ok(Barred {
                        user_id: col(r, "barred_users", "user_id")?,
                        until: col(r, "barred_users", "until")?,
                    })
                },
            )
            .await?;
        Ok((revoked, barred))
    }

    /// When the store was copied from an embedded one upgraded from a version
    /// without a revocation index, if it was.
    pub async fn indexed_since(&self) -> Result<Option<i64>, StoreError> {
        self.select_one("SELECT value FROM meta WHERE name = 'indexed_since'", &[], |r| {
            col(r, "meta", "value")
        })
        .await
    }
}
