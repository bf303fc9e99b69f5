//! API tokens: table `api_tokens`, keyed by the digest of the secret, unique on the
//! public id.

use super::{PgStore, StoreError, bytes, col, error};
use crate::store::ApiTokenRecord;
use tokio_postgres::Row;
use uuid::Uuid;

const COLUMNS: &str = "id, user_id, name, scopes, created_at, expires_at, last_used_at";

fn token_from(row: &Row) -> Result<ApiTokenRecord, StoreError> {
    const T: &str = "api_tokens";
    Ok(ApiTokenRecord {
        id: col(row, T, "id")?,
        user_id: col(row, T, "user_id")?,
        name: col(row, T, "name")?,
        scopes: col(row, T, "scopes")?,
        created_at: col(row, T, "created_at")?,
        expires_at: col(row, T, "expires_at")?,
        last_used_at: col(row, T, "last_used_at")?,
    })
}

/// Inserts an API token under `digest` within `tx`.
pub(super) async fn insert_api_token(
    tx: &deadpool_postgres::Transaction<'_>,
    digest: &[u8; 32],
    t: &ApiTokenRecord,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO api_tokens (digest, id, user_id, name, scopes, created_at, expires_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &bytes(digest),
            &t.id,
            &t.user_id,
            &t.name,
            &t.scopes,
            &t.created_at,
            &t.expires_at,
            &t.last_used_at,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

impl PgStore {
    /// Stores a new API token under the digest of its secret.
    pub async fn create_api_token(&self, token: &ApiTokenRecord, digest: &[u8; 32]) -> Result<(), StoreError> {
        transaction!(self, tx, { insert_api_token(tx, digest, token).await })
    }

    /// The API token whose secret has `digest`.
    pub async fn api_token(&self, digest: &[u8; 32]) -> Result<Option<ApiTokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE digest = $1");
        self.select_one(&sql, &[&bytes(digest)], token_from).await
    }

    /// The API token with public id `id`.
    pub async fn api_token_by_id(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        self.select_one(&sql, &[&id], token_from).await
    }

    /// `user_id`'s API tokens, in id order.
    pub async fn api_tokens_of(&self, user_id: Uuid) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id");
        self.select_all(&sql, &[&user_id], token_from).await
    }

    /// Every API token.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY digest");
        self.select_all(&sql, &[], token_from).await
    }

    /// A page of API tokens in id order.
    pub async fn api_tokens_page(
        &self,
        after: Option<&str>,
        users: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE ($1::TEXT IS NULL OR id > $1) \
             AND ($2::UUID[] IS NULL OR user_id = ANY($2)) ORDER BY id LIMIT $3"
        );
        self.select_all(&sql, &[&after, &users, &limit], token_from).await
    }

    /// How many API tokens are stored.
    pub async fn api_token_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM api_tokens").await
    }

    /// Deletes the API token with id `id`; returns it if it existed.
    pub async fn delete_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        transaction!(self, tx, {
            tx.query_opt(
                &format!("DELETE FROM api_tokens WHERE id = $1 RETURNING {COLUMNS}"),
                &[&id],
            )
            .await
            .map_err(error)?
            .as_ref()
            .map(token_from)
            .transpose()
        })
    }

    /// Records last-use times of tokens that still exist (never moving one back).
    pub async fn touch_api_tokens(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        transaction!(self, tx, {
            let stmt = tx
                .prepare_cached(
                    "UPDATE api_tokens SET last_used_at = $2 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .await
                .map_err(error)?;
            for (id, at) in uses {
                tx.execute(&stmt, &[id, at]).await.map_err(error)?;
            }
            Ok(())
        })
    }
}
