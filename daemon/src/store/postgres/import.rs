//! Filling an empty database with another store's records (`tesserad migrate`): one
//! transaction, so a failure leaves the database empty; the counts are checked
//! against what was read before it commits.

use super::{PgStore, StoreError, bytes, error};
use crate::store::transfer::{Copied, Item};
use deadpool_postgres::Transaction;
use std::collections::HashSet;
use uuid::Uuid;

/// The tables a migration fills, checked empty first and counted after.
const TABLES: &[&str] = &[
    "users",
    "sessions",
    "refresh_tokens",
    "browser_cookies",
    "revoked_sessions",
    "barred_users",
    "denied_tokens",
    "api_tokens",
    "clients",
    "clients_removed",
    "signing_keys",
    "settings",
    "meta",
    "links",
    "codes",
    "grants",
    "audit",
];

impl PgStore {
    /// Copies `items` into the database, which must hold no record yet. Rows whose
    /// user or session is missing are left behind (and counted as such).
    pub async fn import(&self, items: impl Iterator<Item = Result<Item, StoreError>>) -> Result<Copied, StoreError> {
        let mut client = self.connection().await?;
        let tx = client.transaction().await.map_err(error)?;
        for table in TABLES {
            let row = tx
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map_err(error)?;
            let n: i64 = row.try_get(0).map_err(error)?;
            if n > 0 {
                return Err(StoreError::Migration(format!(
                    "the database is not empty ({table} holds {n} rows); migrate into an empty one"
                )));
            }
        }
        let mut copied = Copied::default();
        let (mut users, mut sessions) = (HashSet::new(), HashSet::new());
        for item in items {
            insert(&tx, item?, &mut copied, &mut users, &mut sessions).await?;
        }
        for table in TABLES {
            let row = tx
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map_err(error)?;
            let stored = u64::try_from(row.try_get::<_, i64>(0).map_err(error)?).unwrap_or(0);
            let expected = copied.tables.get(table).map_or(0, |(n, _)| *n);
            if stored != expected {
                return Err(StoreError::Migration(format!(
                    "{table}: {stored} rows in the database, {expected} copied; nothing was kept"
                )));
            }
        }
        tx.commit().await.map_err(error)?;
        Ok(copied)
    }
}

async fn insert(
    tx: &Transaction<'_>,
    item: Item,
    copied: &mut Copied,
    users: &mut HashSet<Uuid>,
    sessions: &mut HashSet<Uuid>,
) -> Result<(), StoreError> {
    let run = async |sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]| {
        let stmt = tx.prepare_cached(sql).await.map_err(error)?;
        tx.execute(&stmt, params).await.map_err(error).map(|_| ())
    };
    match item {
        Item::User(u, last_login) => {
            run(
                "INSERT INTO users (id, username, username_key, email, email_key, display_name, role, \
                 email_verified, password_hash, disabled, created_at, last_login) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &u.id,
                    &u.username,
                    &u.username.to_lowercase(),
                    &u.email,
                    &u.email.to_lowercase(),
                    &u.display_name,
                    &u.role,
                    &u.email_verified,
                    &u.password_hash,
                    &u.disabled,
                    &u.created_at,
                    &last_login,
                ],
            )
            .await?;
            users.insert(u.id);
            copied.count("users", true);
        }
        Item::Session(s) => {
            let kept = users.contains(&s.user_id);
            if kept {
                let kind = match s.kind {
                    crate::store::SessionKind::App => "app",
                    crate::store::SessionKind::Browser => "browser",
                };
                run(
                    "INSERT INTO sessions (id, user_id, scopes, created_at, expires_at, revoked_at, kind, client_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &s.id,
                        &s.user_id,
                        &s.scopes,
                        &s.created_at,
                        &s.expires_at,
                        &s.revoked_at,
                        &kind,
                        &s.client_id,
                    ],
                )
                .await?;
                sessions.insert(s.id);
            }
            copied.count("sessions", kept);
        }
        Item::Refresh(digest, r) => {
            let kept = sessions.contains(&r.session_id);
            if kept {
                super::sessions::insert_refresh(tx, &digest, &r).await?;
            }
            copied.count("refresh_tokens", kept);
        }
        Item::Cookie(digest, session_id) => {
            let kept = sessions.contains(&session_id);
            if kept {
                run(
                    "INSERT INTO browser_cookies (digest, session_id) VALUES ($1, $2)",
                    &[&bytes(&digest), &session_id],
                )
                .await?;
            }
            copied.count("browser_cookies", kept);
        }
        Item::Revoked(r) => {
            run(
                "INSERT INTO revoked_sessions (session_id, until) VALUES ($1, $2)",
                &[&r.session_id, &r.until],
            )
            .await?;
            copied.count("revoked_sessions", true);
        }
        Item::Barred(b) => {
            run(
                "INSERT INTO barred_users (user_id, until) VALUES ($1, $2)",
                &[&b.user_id, &b.until],
            )
            .await?;
            copied.count("barred_users", true);
        }
        Item::Denied(jti, exp) => {
            run(
                "INSERT INTO denied_tokens (jti, expires_at) VALUES ($1, $2)",
                &[&jti, &exp],
            )
            .await?;
            copied.count("denied_tokens", true);
        }
        Item::ApiToken(digest, t) => {
            let kept = users.contains(&t.user_id);
            if kept {
                run(
                    "INSERT INTO api_tokens (digest, id, user_id, name, scopes, created_at, expires_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &bytes(&digest),
                        &t.id,
                        &t.user_id,
                        &t.name,
                        &t.scopes,
                        &t.created_at,
                        &t.expires_at,
                        &t.last_used_at,
                    ],
                )
                .await?;
            }
            copied.count("api_tokens", kept);
        }
        Item::Client(c) => {
            run(
                "INSERT INTO clients (client_id, secret_digest, scopes, created_at, redirect_uris, \
                 post_logout_redirect_uris, public, first_party) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &c.client_id,
                    &c.secret_digest,
                    &c.scopes,
                    &c.created_at,
                    &c.redirect_uris,
                    &c.post_logout_redirect_uris,
                    &c.public,
                    &c.first_party,
                ],
            )
            .await?;
            copied.count("clients", true);
        }
        Item::ClientRemoved(id, at) => {
            run(
                "INSERT INTO clients_removed (client_id, removed_at) VALUES ($1, $2)",
                &[&id, &at],
            )
            .await?;
            copied.count("clients_removed", true);
        }
        Item::Key(k) => {
            run(
                "INSERT INTO signing_keys (kid, secret, created_at, retired_at) VALUES ($1, $2, $3, $4)",
                &[&k.kid, &k.secret, &k.created_at, &k.retired_at],
            )
            .await?;
            copied.count("signing_keys", true);
        }
        Item::Setting(name, value) => {
            run("INSERT INTO settings (name, value) VALUES ($1, $2)", &[&name, &value]).await?;
            copied.count("settings", true);
        }
        Item::Horizon(seconds) => {
            run(
                "INSERT INTO meta (name, value) VALUES ('token_horizon', $1)",
                &[&seconds],
            )
            .await?;
            copied.count("meta", true);
        }
        Item::IndexedSince(at) => {
            run("INSERT INTO meta (name, value) VALUES ('indexed_since', $1)", &[&at]).await?;
            copied.count("meta", true);
        }
        Item::Link(digest, l) => {
            let kept = users.contains(&l.user_id);
            if kept {
                let kind = match l.kind {
                    crate::store::LinkKind::Verify => "verify",
                    crate::store::LinkKind::Reset => "reset",
                };
                run(
                    "INSERT INTO links (digest, kind, user_id, email, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&bytes(&digest), &kind, &l.user_id, &l.email, &l.expires_at, &l.used_at],
                )
                .await?;
            }
            copied.count("links", kept);
        }
        Item::Code(digest, c) => {
            run(
                "INSERT INTO codes (digest, client_id, redirect_uri, scopes, user_id, browser_session, challenge, \
                 expires_at, used_at, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &bytes(&digest),
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
            .await?;
            copied.count("codes", true);
        }
        Item::Grant(user_id, client_id, g) => {
            let kept = users.contains(&user_id);
            if kept {
                run(
                    "INSERT INTO grants (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)",
                    &[&user_id, &client_id, &g.scopes, &g.granted_at],
                )
                .await?;
            }
            copied.count("grants", kept);
        }
        Item::Audit(a) => {
            run(
                "INSERT INTO audit (at, event, subject, origin, detail) VALUES ($1, $2, $3, $4, $5)",
                &[&a.at, &a.event, &a.subject, &a.origin, &a.detail],
            )
            .await?;
            copied.count("audit", true);
        }
    }
    Ok(())
}
