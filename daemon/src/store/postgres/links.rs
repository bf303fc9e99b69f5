//! What the sign-in and email flows store: link tokens sent by mail (`links`),
//! authorization codes (`codes`) and consents (`grants`). A link or a code is used in
//! one transaction that locks its row, so it is used once whichever daemon sees it.

use super::users::{USER_COLUMNS, user_from, write_user};
use super::{PgStore, StoreError, bytes, col, error};
use crate::store::{CodeRecord, CodeUse, GrantRecord, LinkKind, LinkRecord, LinkUse, UserRecord};
use tokio_postgres::Row;
use uuid::Uuid;

fn kind_name(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Verify => "verify",
        LinkKind::Reset => "reset",
    }
}

fn link_from(row: &Row) -> Result<LinkRecord, StoreError> {
    const T: &str = "links";
    let kind: String = col(row, T, "kind")?;
    Ok(LinkRecord {
        kind: match kind.as_str() {
            "verify" => LinkKind::Verify,
            "reset" => LinkKind::Reset,
            other => {
                return Err(StoreError::Corrupt {
                    tree: T,
                    detail: format!("kind {other:?}"),
                });
            }
        },
        user_id: col(row, T, "user_id")?,
        email: col(row, T, "email")?,
        expires_at: col(row, T, "expires_at")?,
        used_at: col(row, T, "used_at")?,
    })
}

const CODE_COLUMNS: &str =
    "client_id, redirect_uri, scopes, user_id, browser_session, challenge, expires_at, used_at, session_id";

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
    })
}

/// Inserts a link under `digest` within `tx`.
pub(super) async fn insert_link(
    tx: &deadpool_postgres::Transaction<'_>,
    digest: &[u8; 32],
    l: &LinkRecord,
) -> Result<(), StoreError> {
    let kind = kind_name(l.kind);
    tx.execute(
        "INSERT INTO links (digest, kind, user_id, email, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&bytes(digest), &kind, &l.user_id, &l.email, &l.expires_at, &l.used_at],
    )
    .await
    .map_err(error)?;
    Ok(())
}

/// Inserts an authorization code under `digest` within `tx`.
pub(super) async fn insert_code(
    tx: &deadpool_postgres::Transaction<'_>,
    digest: &[u8; 32],
    c: &CodeRecord,
) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO codes (digest, {CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
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
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

impl PgStore {
    /// Stores a new link token under `digest`.
    pub async fn create_link(&self, digest: &[u8; 32], link: &LinkRecord) -> Result<(), StoreError> {
        transaction!(self, tx, { insert_link(tx, digest, link).await })
    }

    /// The link stored under `digest`.
    pub async fn link(&self, digest: &[u8; 32]) -> Result<Option<LinkRecord>, StoreError> {
        let sql = "SELECT kind, user_id, email, expires_at, used_at FROM links WHERE digest = $1";
        self.select_one(sql, &[&bytes(digest)], link_from).await
    }

    /// Uses a live, unused `kind` link of an enabled user whose address is still the
    /// one it was sent to: applies `change` to the user, marks the link used and
    /// deletes the user's other links of that kind, in one transaction.
    pub async fn use_link(
        &self,
        digest: &[u8; 32],
        kind: LinkKind,
        now: i64,
        change: impl Fn(&mut UserRecord),
    ) -> Result<LinkUse, StoreError> {
        transaction!(self, tx, {
            let Some(row) = tx
                .query_opt(
                    "SELECT kind, user_id, email, expires_at, used_at FROM links WHERE digest = $1 FOR UPDATE",
                    &[&bytes(digest)],
                )
                .await
                .map_err(error)?
            else {
                return Ok(LinkUse::Invalid);
            };
            let link = link_from(&row)?;
            let user = tx
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"),
                    &[&link.user_id],
                )
                .await
                .map_err(error)?
                .as_ref()
                .map(user_from)
                .transpose()?;
            let mut user = match LinkUse::check(&link, kind, now, user) {
                LinkUse::Used(user) => user,
                outcome => return Ok(outcome),
            };
            change(&mut user);
            write_user(tx, &user).await?;
            tx.execute(
                "UPDATE links SET used_at = $2 WHERE digest = $1",
                &[&bytes(digest), &now],
            )
            .await
            .map_err(error)?;
            tx.execute(
                "DELETE FROM links WHERE user_id = $1 AND kind = $2 AND digest <> $3",
                &[&user.id, &kind_name(kind), &bytes(digest)],
            )
            .await
            .map_err(error)?;
            Ok(LinkUse::Used(user))
        })
    }

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
