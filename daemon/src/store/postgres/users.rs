//! Users: table `users`, unique on the lower-cased username and email
//! (`username_key`, `email_key`). Deleting a user deletes their sessions (with their
//! refresh tokens and cookies), API tokens, links and consents by cascade. Disabling
//! or deleting one bars them in `barred_users` and in the change log, in the same
//! transaction.

use super::changes::{Logged, log};
use super::{PgStore, StoreError, col, error};
use crate::store::{Barred, Change, FOR_GOOD, Unique, UserRecord};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

/// The columns [`user_from`] reads.
pub(super) const USER_COLUMNS: &str =
    "id, username, email, display_name, role, email_verified, password_hash, disabled, created_at";

/// A user from a row holding [`USER_COLUMNS`].
pub(super) fn user_from(row: &Row) -> Result<UserRecord, StoreError> {
    const T: &str = "users";
    Ok(UserRecord {
        id: col(row, T, "id")?,
        username: col(row, T, "username")?,
        email: col(row, T, "email")?,
        display_name: col(row, T, "display_name")?,
        role: col(row, T, "role")?,
        email_verified: col(row, T, "email_verified")?,
        password_hash: col(row, T, "password_hash")?,
        disabled: col(row, T, "disabled")?,
        created_at: col(row, T, "created_at")?,
    })
}

/// Writes every field of `user` but the indexed ones (username and email never change).
pub(super) async fn write_user(tx: &deadpool_postgres::Transaction<'_>, user: &UserRecord) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE users SET display_name = $2, role = $3, email_verified = $4, password_hash = $5, disabled = $6 \
             WHERE id = $1",
        )
        .await
        .map_err(error)?;
    tx.execute(
        &stmt,
        &[
            &user.id,
            &user.display_name,
            &user.role,
            &user.email_verified,
            &user.password_hash,
            &user.disabled,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

/// Inserts `user` (with when they last logged in) within `tx`.
pub(super) async fn insert_user(
    tx: &deadpool_postgres::Transaction<'_>,
    u: &UserRecord,
    last_login: Option<i64>,
) -> Result<(), tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO users (id, username, username_key, email, email_key, display_name, role, \
             email_verified, password_hash, disabled, created_at, last_login) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 12] = [
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
    ];
    tx.execute(&stmt, &params).await.map(|_| ())
}

impl PgStore {
    /// Inserts a new user; [`StoreError::Taken`] if the username or email is used.
    pub async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        transaction!(self, tx, {
            match insert_user(tx, user, None).await {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    let on_email = e
                        .as_db_error()
                        .and_then(|d| d.constraint())
                        .is_some_and(|c| c.contains("email"));
                    Err(StoreError::Taken(if on_email {
                        Unique::Email
                    } else {
                        Unique::Username
                    }))
                }
                Err(e) => Err(error(e)),
            }
        })
    }

    /// The user with `id`.
    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.select_one(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            &[&id],
            user_from,
        )
        .await
    }

    /// The user whose username, or email when `login` holds an `@`, matches `login`
    /// case-insensitively.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let key = login.to_lowercase();
        let column = if login.contains('@') {
            "email_key"
        } else {
            "username_key"
        };
        self.select_one(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1"),
            &[&key],
            user_from,
        )
        .await
    }

    /// Every user, in id order.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.select_all(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"), &[], user_from)
            .await
    }

    /// A page of users in the order of `username_key` (in the database's collation).
    pub async fn users_page(
        &self,
        after: Option<&str>,
        prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let after = after.map(str::to_lowercase);
        let chars = prefix.map_or(0, |p| i32::try_from(p.chars().count()).unwrap_or(i32::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE ($1::TEXT IS NULL OR username_key > $1) \
             AND ($2::TEXT IS NULL OR left(username_key, $3) = $2 OR left(email_key, $3) = $2) \
             ORDER BY username_key LIMIT $4"
        );
        self.select_all(&sql, &[&after, &prefix, &chars, &limit], user_from)
            .await
    }

    /// The ids of the users whose `username_key` starts with `prefix`.
    pub async fn user_ids_by_name_prefix(&self, prefix: &str) -> Result<Vec<Uuid>, StoreError> {
        let chars = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        let sql = "SELECT id FROM users WHERE left(username_key, $2) = $1";
        self.select_all(sql, &[&prefix, &chars], |r| col(r, "users", "id"))
            .await
    }

    /// How many users exist (a count of the table).
    pub async fn user_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM users").await
    }

    /// Changes a user's record atomically (the row is locked while `change` runs).
    pub async fn modify_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut UserRecord) -> bool,
    ) -> Result<Option<UserRecord>, StoreError> {
        transaction!(self, tx, {
            let row = tx
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"),
                    &[&id],
                )
                .await
                .map_err(error)?;
            let Some(mut user) = row.as_ref().map(user_from).transpose()? else {
                return Ok(None);
            };
            if change(&mut user) {
                write_user(tx, &user).await?;
                if user.disabled {
                    tx.execute(
                        "INSERT INTO barred_users (user_id, until) VALUES ($1, $2) \
                         ON CONFLICT (user_id) DO UPDATE SET until = excluded.until",
                        &[&id, &FOR_GOOD],
                    )
                    .await
                    .map_err(error)?;
                    log(
                        tx,
                        Logged::from(&Change::UserBarred(Barred {
                            user_id: id,
                            until: FOR_GOOD,
                        })),
                    )
                    .await?;
                } else {
                    let admitted = tx
                        .execute("DELETE FROM barred_users WHERE user_id = $1", &[&id])
                        .await
                        .map_err(error)?;
                    if admitted > 0 {
                        log(tx, Logged::from(&Change::UserAdmitted(id))).await?;
                    }
                }
            }
            Ok(Some(user))
        })
    }

    /// Deletes a user and, by cascade, what belongs to them; bars them until their
    /// last access token has expired.
    pub async fn delete_user(&self, user: &UserRecord, now: i64) -> Result<Barred, StoreError> {
        let bar = Barred {
            user_id: user.id,
            until: self.kept_until(now, FOR_GOOD),
        };
        transaction!(self, tx, {
            tx.execute("DELETE FROM users WHERE id = $1", &[&user.id])
                .await
                .map_err(error)?;
            tx.execute(
                "INSERT INTO barred_users (user_id, until) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET until = excluded.until",
                &[&bar.user_id, &bar.until],
            )
            .await
            .map_err(error)?;
            log(tx, Logged::from(&Change::UserBarred(bar))).await?;
            Ok(bar)
        })
    }

    /// The database's size in bytes (PostgreSQL's `pg_database_size`); `None` where
    /// the engine has no such function (CockroachDB).
    pub async fn size_on_disk(&self) -> Result<Option<u64>, StoreError> {
        reading!(self, c, {
            match c.query_one("SELECT pg_database_size(current_database())", &[]).await {
                Ok(row) => Ok(row.try_get::<_, i64>(0).ok().and_then(|n| u64::try_from(n).ok())),
                Err(e) if e.code().is_some() => Ok(None),
                Err(e) => Err(error(e)),
            }
        })
    }

    /// The one number `sql` selects.
    pub(super) async fn count(&self, sql: &'static str) -> Result<u64, StoreError> {
        reading!(self, c, {
            let row = c.query_one(sql, &[]).await.map_err(error)?;
            let n: i64 = row.try_get(0).map_err(error)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
