//! Sessions (`sessions`) and their refresh tokens (`refresh_tokens`, by digest). A
//! browser session starts with its cookie (`browser_cookies`, read in
//! [`super::browser`]) instead of a refresh token; revoking a session records it in
//! `revoked_sessions` (read in [`super::revocations`]) in the same transaction.
//! A refresh token is exchanged by one conditional `UPDATE … WHERE rotated_at IS NULL`:
//! of two concurrent presentations, on any daemons, exactly one changes the row.

use super::changes::{Logged, log};
use super::users::{USER_COLUMNS, user_from};
use super::{PgStore, StoreError, bytes, col, error};
use crate::records::BrowserLogin;
use crate::store::{Change, RefreshRecord, Revoked, Rotation, SessionKind, SessionRecord, SessionStart, UserRecord};
use tokio_postgres::Row;
use uuid::Uuid;

pub(super) const SESSION_COLUMNS: &str =
    "id, user_id, scopes, created_at, expires_at, revoked_at, kind, client_id, browser_session, auth_time";

pub(super) fn session_from(row: &Row) -> Result<SessionRecord, StoreError> {
    const T: &str = "sessions";
    let kind: String = col(row, T, "kind")?;
    Ok(SessionRecord {
        id: col(row, T, "id")?,
        user_id: col(row, T, "user_id")?,
        scopes: col(row, T, "scopes")?,
        created_at: col(row, T, "created_at")?,
        expires_at: col(row, T, "expires_at")?,
        revoked_at: col(row, T, "revoked_at")?,
        kind: match kind.as_str() {
            "browser" => SessionKind::Browser,
            _ => SessionKind::App,
        },
        client_id: col(row, T, "client_id")?,
        browser_login: match (
            col::<Option<Uuid>>(row, T, "browser_session")?,
            col::<Option<i64>>(row, T, "auth_time")?,
        ) {
            (Some(session), Some(auth_time)) => Some(BrowserLogin { session, auth_time }),
            _ => None,
        },
    })
}

fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::App => "app",
        SessionKind::Browser => "browser",
    }
}

fn refresh_from(row: &Row) -> Result<RefreshRecord, StoreError> {
    const T: &str = "refresh_tokens";
    Ok(RefreshRecord {
        session_id: col(row, T, "session_id")?,
        issued_at: col(row, T, "issued_at")?,
        expires_at: col(row, T, "expires_at")?,
        rotated_at: col(row, T, "rotated_at")?,
        client_id: col(row, T, "client_id")?,
    })
}

/// Inserts a refresh token within `tx`.
pub(super) async fn insert_refresh(
    tx: &deadpool_postgres::Transaction<'_>,
    digest: &[u8; 32],
    r: &RefreshRecord,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO refresh_tokens (digest, session_id, issued_at, expires_at, rotated_at, client_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(error)?;
    tx.execute(
        &stmt,
        &[
            &bytes(digest),
            &r.session_id,
            &r.issued_at,
            &r.expires_at,
            &r.rotated_at,
            &r.client_id,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

/// Inserts `session` within `tx`.
pub(super) async fn insert_session(
    tx: &deadpool_postgres::Transaction<'_>,
    s: &SessionRecord,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO sessions (id, user_id, scopes, created_at, expires_at, revoked_at, kind, client_id, \
             browser_session, auth_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .await
        .map_err(error)?;
    let kind = kind_name(s.kind);
    tx.execute(
        &stmt,
        &[
            &s.id,
            &s.user_id,
            &s.scopes,
            &s.created_at,
            &s.expires_at,
            &s.revoked_at,
            &kind,
            &s.client_id,
            &s.browser_login.map(|b| b.session),
            &s.browser_login.map(|b| b.auth_time),
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

impl PgStore {
    /// Stores a new session with its first refresh token or cookie, if `user` is
    /// still stored exactly as given (its row is locked meanwhile).
    pub async fn create_session(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        start: SessionStart<'_>,
    ) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let stmt = tx
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"))
                .await
                .map_err(error)?;
            let current = tx.query_opt(&stmt, &[&user.id]).await.map_err(error)?;
            if current.as_ref().map(user_from).transpose()?.as_ref() != Some(user) {
                return Ok(false);
            }
            insert_session(tx, session).await?;
            match start {
                SessionStart::Refresh(digest, record) => insert_refresh(tx, digest, record).await?,
                SessionStart::Cookie(cookie) => {
                    tx.execute(
                        "INSERT INTO browser_cookies (digest, session_id) VALUES ($1, $2)",
                        &[&bytes(cookie), &session.id],
                    )
                    .await
                    .map_err(error)?;
                }
            }
            let stmt = tx
                .prepare_cached("UPDATE users SET last_login = $2 WHERE id = $1")
                .await
                .map_err(error)?;
            tx.execute(&stmt, &[&user.id, &session.created_at])
                .await
                .map_err(error)?;
            Ok(true)
        })
    }

    /// When `user_id` last opened a session.
    pub async fn last_login(&self, user_id: Uuid) -> Result<Option<i64>, StoreError> {
        let found = self
            .select_one("SELECT last_login FROM users WHERE id = $1", &[&user_id], |r| {
                col::<Option<i64>>(r, "users", "last_login")
            })
            .await?;
        Ok(found.flatten())
    }

    /// The session with `id`.
    pub async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        self.select_one(&sql, &[&id], session_from).await
    }

    /// Every session of `user_id` not revoked, oldest first.
    pub async fn sessions_of(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id");
        self.select_all(&sql, &[&user_id], session_from).await
    }

    /// The ids of `user_id`'s open sessions at `now`, oldest first (ids are UUID v7).
    pub async fn open_sessions_of(&self, user_id: Uuid, now: i64) -> Result<Vec<Uuid>, StoreError> {
        let sql = "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id";
        self.select_all(sql, &[&user_id, &now], |r| col(r, "sessions", "id"))
            .await
    }

    /// A page of live sessions in id order.
    pub async fn sessions_page(
        &self,
        after: Option<Uuid>,
        users: Option<&[Uuid]>,
        now: i64,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE revoked_at IS NULL AND expires_at > $1 \
             AND ($2::UUID IS NULL OR id > $2) AND ($3::UUID[] IS NULL OR user_id = ANY($3)) \
             ORDER BY id LIMIT $4"
        );
        self.select_all(&sql, &[&now, &after, &users, &limit], session_from)
            .await
    }

    /// The ids of the open sessions of `client_id`.
    pub async fn open_sessions_of_client(&self, client_id: &str, now: i64) -> Result<Vec<Uuid>, StoreError> {
        let sql = "SELECT id FROM sessions WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id";
        self.select_all(sql, &[&client_id, &now], |r| col(r, "sessions", "id"))
            .await
    }

    /// Every session neither revoked nor past its maximum age at `now`.
    pub async fn live_sessions(&self, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY id");
        self.select_all(&sql, &[&now], session_from).await
    }

    /// How many stored sessions are not revoked.
    pub async fn session_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
            .await
    }

    /// How many refresh-token records are stored.
    pub async fn refresh_token_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM refresh_tokens").await
    }

    /// Marks a session revoked, records the revocation and logs it for the other
    /// daemons; `None` if unknown or already revoked.
    pub async fn revoke_session(&self, id: Uuid, now: i64) -> Result<Option<Revoked>, StoreError> {
        transaction!(self, tx, {
            let stmt = tx
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING expires_at",
                )
                .await
                .map_err(error)?;
            let Some(row) = tx.query_opt(&stmt, &[&id, &now]).await.map_err(error)? else {
                return Ok(None);
            };
            let expires_at: i64 = col(&row, "sessions", "expires_at")?;
            let revoked = Revoked {
                session_id: id,
                until: self.kept_until(now, expires_at),
            };
            if revoked.until > now {
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO revoked_sessions (session_id, until) VALUES ($1, $2) \
                         ON CONFLICT (session_id) DO UPDATE SET until = excluded.until",
                    )
                    .await
                    .map_err(error)?;
                tx.execute(&stmt, &[&id, &revoked.until]).await.map_err(error)?;
            }
            log(tx, Logged::from(&Change::SessionRevoked(revoked))).await?;
            Ok(Some(revoked))
        })
    }

    /// The refresh token stored under `digest`.
    pub async fn refresh_token(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError> {
        let sql = "SELECT session_id, issued_at, expires_at, rotated_at, client_id \
                   FROM refresh_tokens WHERE digest = $1";
        self.select_one(sql, &[&bytes(digest)], refresh_from).await
    }

    /// Exchanges `old` for `new`: one conditional statement marks `old` rotated only if
    /// it was not and its session is not revoked; the new token goes in the same
    /// transaction.
    pub async fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        record: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        transaction!(self, tx, {
            let stmt = tx
                .prepare_cached(
                    "UPDATE refresh_tokens SET rotated_at = $2 WHERE digest = $1 AND rotated_at IS NULL \
                     AND session_id IN (SELECT id FROM sessions WHERE revoked_at IS NULL) RETURNING session_id",
                )
                .await
                .map_err(error)?;
            if tx
                .query_opt(&stmt, &[&bytes(old), &now])
                .await
                .map_err(error)?
                .is_some()
            {
                insert_refresh(tx, new, record).await?;
                return Ok(Rotation::Rotated);
            }
            // Not exchanged: tell a replay from a token that never was (or whose
            // session ended).
            let stmt = tx
                .prepare_cached("SELECT session_id, rotated_at FROM refresh_tokens WHERE digest = $1")
                .await
                .map_err(error)?;
            let Some(row) = tx.query_opt(&stmt, &[&bytes(old)]).await.map_err(error)? else {
                return Ok(Rotation::Invalid);
            };
            let rotated: Option<i64> = col(&row, "refresh_tokens", "rotated_at")?;
            Ok(match rotated {
                Some(_) => Rotation::Reused {
                    session_id: col(&row, "refresh_tokens", "session_id")?,
                },
                None => Rotation::Invalid,
            })
        })
    }
}
