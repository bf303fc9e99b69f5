//! Link tokens sent by mail (`links`, by digest). A link is used in one transaction
//! that locks its row, so it is used once whichever daemon sees it; a successful use
//! deletes the user's other links of its kind in the same transaction.

use super::users::{USER_COLUMNS, user_from, write_user};
use super::{PgStore, StoreError, bytes, col, error};
use crate::store::{LinkKind, LinkRecord, LinkUse, UserRecord};
use tokio_postgres::Row;

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
}
