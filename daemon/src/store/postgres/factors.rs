//! Second factors (`mfa_factors`, one row per user who has one) and the logins waiting
//! for one (`mfa_tokens`, by digest). Each one-use rule is one conditional statement,
//! so it holds across daemons: a TOTP step is accepted by the `UPDATE` that raises
//! `totp_last_step`, a recovery code by the one that removes it, a token's success by
//! the `DELETE` that returns it.

use super::{PgStore, StoreError, bytes, col, error};
use crate::records::{FactorsRecord, MfaTokenRecord, TotpFactor};
use tokio_postgres::Row;
use uuid::Uuid;

fn factors_from(row: &Row) -> Result<FactorsRecord, StoreError> {
    const T: &str = "mfa_factors";
    let secret: Option<Vec<u8>> = col(row, T, "totp_secret")?;
    let recovery: Vec<Vec<u8>> = col(row, T, "recovery_codes")?;
    Ok(FactorsRecord {
        totp: match secret {
            Some(secret) => Some(TotpFactor {
                secret,
                confirmed: col(row, T, "totp_confirmed")?,
                created_at: col(row, T, "totp_created_at")?,
                last_step: col(row, T, "totp_last_step")?,
            }),
            None => None,
        },
        recovery: recovery
            .into_iter()
            .map(|d| {
                <[u8; 32]>::try_from(d.as_slice()).map_err(|_| StoreError::Corrupt {
                    tree: T,
                    detail: "a recovery code digest is not 32 bytes".into(),
                })
            })
            .collect::<Result<_, _>>()?,
    })
}

fn token_from(row: &Row) -> Result<MfaTokenRecord, StoreError> {
    const T: &str = "mfa_tokens";
    let failures: i32 = col(row, T, "failures")?;
    Ok(MfaTokenRecord {
        user_id: col(row, T, "user_id")?,
        expires_at: col(row, T, "expires_at")?,
        failures: u32::try_from(failures).unwrap_or(0),
        scopes: col(row, T, "scopes")?,
        password: {
            let digest: Vec<u8> = col(row, T, "password_digest")?;
            <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| StoreError::Corrupt {
                tree: T,
                detail: "a password digest is not 32 bytes".into(),
            })?
        },
    })
}

/// Inserts or replaces `user_id`'s factors within `tx`; a stored TOTP step is never
/// lowered.
pub(super) async fn insert_factors(
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    f: &FactorsRecord,
) -> Result<(), StoreError> {
    let totp = f.totp.as_ref();
    let recovery: Vec<&[u8]> = f.recovery.iter().map(|d| d.as_slice()).collect();
    tx.execute(
        "INSERT INTO mfa_factors (user_id, totp_secret, totp_confirmed, totp_created_at, totp_last_step, \
         recovery_codes) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET \
         totp_secret = excluded.totp_secret, totp_confirmed = excluded.totp_confirmed, \
         totp_created_at = excluded.totp_created_at, \
         totp_last_step = GREATEST(mfa_factors.totp_last_step, excluded.totp_last_step), \
         recovery_codes = excluded.recovery_codes",
        &[
            &user_id,
            &totp.map(|t| t.secret.as_slice()),
            &totp.is_some_and(|t| t.confirmed),
            &totp.map_or(0, |t| t.created_at),
            &totp.map_or(0, |t| t.last_step),
            &recovery,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

impl PgStore {
    /// `user_id`'s factors, if any.
    pub async fn factors(&self, user_id: Uuid) -> Result<Option<FactorsRecord>, StoreError> {
        let sql = "SELECT totp_secret, totp_confirmed, totp_created_at, totp_last_step, recovery_codes \
                   FROM mfa_factors WHERE user_id = $1";
        self.select_one(sql, &[&user_id], factors_from).await
    }

    /// Stores (or replaces) `user_id`'s factors.
    pub async fn put_factors(&self, user_id: Uuid, f: &FactorsRecord) -> Result<(), StoreError> {
        transaction!(self, tx, { insert_factors(tx, user_id, f).await })
    }

    /// Removes every factor and recovery code of `user_id`; false if there were none.
    pub async fn remove_factors(&self, user_id: Uuid) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let n = tx
                .execute("DELETE FROM mfa_factors WHERE user_id = $1", &[&user_id])
                .await
                .map_err(error)?;
            Ok(n > 0)
        })
    }

    /// Records that a TOTP code of `step` was accepted, unless one of this step or a
    /// later one was.
    pub async fn use_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let n = tx
                .execute(
                    "UPDATE mfa_factors SET totp_last_step = $2 WHERE user_id = $1 \
                     AND totp_secret IS NOT NULL AND totp_last_step < $2",
                    &[&user_id, &step],
                )
                .await
                .map_err(error)?;
            Ok(n == 1)
        })
    }

    /// Uses the recovery code with `digest`.
    pub async fn use_recovery_code(&self, user_id: Uuid, digest: &[u8; 32]) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let n = tx
                .execute(
                    "UPDATE mfa_factors SET recovery_codes = array_remove(recovery_codes, $2) \
                     WHERE user_id = $1 AND $2 = ANY (recovery_codes)",
                    &[&user_id, &bytes(digest)],
                )
                .await
                .map_err(error)?;
            Ok(n == 1)
        })
    }

    /// Stores a login waiting for its second factor.
    pub async fn create_mfa_token(&self, digest: &[u8; 32], r: &MfaTokenRecord) -> Result<(), StoreError> {
        let failures = i32::try_from(r.failures).unwrap_or(i32::MAX);
        transaction!(self, tx, {
            tx.execute(
                "INSERT INTO mfa_tokens (digest, user_id, expires_at, failures, scopes, password_digest) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &bytes(digest),
                    &r.user_id,
                    &r.expires_at,
                    &failures,
                    &r.scopes,
                    &bytes(&r.password),
                ],
            )
            .await
            .map_err(error)?;
            Ok(())
        })
    }

    /// The waiting login under `digest`.
    pub async fn mfa_token(&self, digest: &[u8; 32]) -> Result<Option<MfaTokenRecord>, StoreError> {
        let sql = "SELECT user_id, expires_at, failures, scopes, password_digest FROM mfa_tokens WHERE digest = $1";
        self.select_one(sql, &[&bytes(digest)], token_from).await
    }

    /// Counts an attempt at the token's code, if it is live and has had fewer than
    /// `limit`: one conditional `UPDATE`, so parallel guesses on any daemons count.
    pub async fn attempt_mfa_token(
        &self,
        digest: &[u8; 32],
        now: i64,
        limit: u32,
    ) -> Result<Option<MfaTokenRecord>, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        transaction!(self, tx, {
            let row = tx
                .query_opt(
                    "UPDATE mfa_tokens SET failures = failures + 1 \
                     WHERE digest = $1 AND expires_at > $2 AND failures < $3 \
                     RETURNING user_id, expires_at, failures, scopes, password_digest",
                    &[&bytes(digest), &now, &limit],
                )
                .await
                .map_err(error)?;
            row.as_ref().map(token_from).transpose()
        })
    }

    /// Confirms the pending TOTP of `secret` with a code of `step`, and stores the
    /// first recovery codes when given.
    pub async fn confirm_totp(
        &self,
        user_id: Uuid,
        secret: &[u8],
        step: i64,
        recovery: Option<&[[u8; 32]]>,
    ) -> Result<bool, StoreError> {
        let codes: Option<Vec<&[u8]>> = recovery.map(|r| r.iter().map(|d| d.as_slice()).collect());
        transaction!(self, tx, {
            let n = tx
                .execute(
                    "UPDATE mfa_factors SET totp_confirmed = true, totp_last_step = $3, \
                     recovery_codes = COALESCE($4, recovery_codes) \
                     WHERE user_id = $1 AND totp_secret = $2 AND NOT totp_confirmed AND totp_last_step < $3",
                    &[&user_id, &secret, &step, &codes],
                )
                .await
                .map_err(error)?;
            Ok(n == 1)
        })
    }

    /// Replaces the recovery codes while an active factor exists.
    pub async fn replace_recovery_codes(&self, user_id: Uuid, recovery: &[[u8; 32]]) -> Result<bool, StoreError> {
        let codes: Vec<&[u8]> = recovery.iter().map(|d| d.as_slice()).collect();
        transaction!(self, tx, {
            let n = tx
                .execute(
                    "UPDATE mfa_factors SET recovery_codes = $2 WHERE user_id = $1 AND totp_confirmed",
                    &[&user_id, &codes],
                )
                .await
                .map_err(error)?;
            Ok(n == 1)
        })
    }

    /// Removes the token and returns it.
    pub async fn take_mfa_token(&self, digest: &[u8; 32]) -> Result<Option<MfaTokenRecord>, StoreError> {
        transaction!(self, tx, {
            let row = tx
                .query_opt(
                    "DELETE FROM mfa_tokens WHERE digest = $1 RETURNING user_id, expires_at, failures, scopes, password_digest",
                    &[&bytes(digest)],
                )
                .await
                .map_err(error)?;
            row.as_ref().map(token_from).transpose()
        })
    }
}
