//! Authorization codes (`codes`, by digest). A code is used in one conditional
//! `UPDATE … WHERE used_at IS NULL` that records the session it opens, so it is used
//! once whichever daemon sees it, and a code presented again finds that session.

use super::{PgStore, StoreError, bytes, col, error};
use crate::store::{CodeRecord, CodeUse};
use tokio_postgres::Row;
use uuid::Uuid;

const CODE_COLUMNS: &str = "client_id, redirect_uri, scopes, user_id, browser_session, challenge, expires_at, \
     used_at, session_id, nonce, auth_time";

fn code_from(row: &Row) -> Result<CodeRecord, StoreError> {
    const T: &str = "codes";
    Ok(CodeRecord {
        client_id: col(row, T, "client_id")?,
        redirect_uri: col(row, T, "redirect_uri")?,
        scopes: col(row, T, "scopes")?,
        user_id: col(row, T, "user_id")?,
        browser_session: col(row, T, "browser_session")?,
        challenge: col(row, T, "challenge")?,
        expires_at: col(row, T, "expires_at")?,
        used_at: col(row, T, "used_at")?,
        session_id: col(row, T, "session_id")?,
        nonce: col(row, T, "nonce")?,
        auth_time: col(row, T, "auth_time")?,
    })
}

/// Inserts an authorization code under `digest` within `tx`.
pub(super) async fn insert_code(
    tx: &deadpool_postgres::Transaction<'_>,
    digest: &[u8; 32],
    c: &CodeRecord,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO codes (digest, {CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ),
        &[
            &bytes(digest),
            &c.client_id,
            &c.redirect_uri,
            &c.scopes,
            &c.user_id,
            &c.browser_session,
            &c.challenge,
            &c.expires_at,
            &c.used_at,
            &c.session_id,
            &c.nonce,
            &c.auth_time,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

impl PgStore {
    /// Stores a new authorization code under `digest`.
    pub async fn create_code(&self, digest: &[u8; 32], code: &CodeRecord) -> Result<(), StoreError> {
        transaction!(self, tx, { insert_code(tx, digest, code).await })
    }

    /// Uses the code under `digest` at `now` for `session_id`: once, whichever daemon
    /// sees it first.
    pub async fn use_code(&self, digest: &[u8; 32], now: i64, session_id: Uuid) -> Result<CodeUse, StoreError> {
        transaction!(self, tx, {
            let fresh = tx
                .query_opt(
                    &format!(
                        "UPDATE codes SET used_at = $2, session_id = $3 WHERE digest = $1 AND used_at IS NULL \
                         RETURNING {CODE_COLUMNS}"
                    ),
                    &[&bytes(digest), &now, &session_id],
                )
                .await
                .map_err(error)?;
            if let Some(row) = fresh {
                return Ok(CodeUse::Fresh(code_from(&row)?));
            }
            let used = tx
                .query_opt(
                    &format!("SELECT {CODE_COLUMNS} FROM codes WHERE digest = $1"),
                    &[&bytes(digest)],
                )
                .await
                .map_err(error)?;
            Ok(match used {
                Some(row) => CodeUse::Reused(code_from(&row)?),
                None => CodeUse::Unknown,
            })
        })
    }
}
