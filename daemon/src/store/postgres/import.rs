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
    "mfa_factors",
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
            super::users::insert_user(tx, &u, last_login).await.map_err(error)?;
            users.insert(u.id);
            copied.count("users", true);
        }
        Item::Session(s) => {
            let kept = users.contains(&s.user_id);
            if kept {
                super::sessions::insert_session(tx, &s).await?;
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
                super::api_tokens::insert_api_token(tx, &digest, &t).await?;
            }
            copied.count("api_tokens", kept);
        }
        Item::Client(c) => {
            super::clients::insert_client(tx, &c).await.map_err(error)?;
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
                "INSERT INTO signing_keys (kid, secret, created_at, retired_at, kind) VALUES ($1, $2, $3, $4, $5)",
                &[&k.kid, &k.secret, &k.created_at, &k.retired_at, &k.kind.name()],
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
                super::links::insert_link(tx, &digest, &l).await?;
            }
            copied.count("links", kept);
        }
        Item::Code(digest, c) => {
            super::codes::insert_code(tx, &digest, &c).await?;
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
        Item::Factors(user_id, f) => {
            let kept = users.contains(&user_id);
            if kept {
                super::factors::insert_factors(tx, user_id, &f).await?;
            }
            copied.count("mfa_factors", kept);
        }
        Item::Audit(a) => {
            run(
                "INSERT INTO audit (at, event, subject, origin, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&a.at, &a.event, &a.subject, &a.origin, &a.detail, &a.request_id],
            )
            .await?;
            copied.count("audit", true);
        }
    }
    Ok(())
}
