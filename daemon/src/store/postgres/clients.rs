//! OAuth clients (`clients`, `clients_removed`). Removing a client and replacing its
//! secret are logged for the other daemons.

use super::changes::{Logged, log};
use super::{PgStore, StoreError, col, error};
use crate::store::{Change, ClientRecord, RetiringSecret, Unique};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

const CLIENT_COLUMNS: &str = "client_id, secret_digest, scopes, created_at, redirect_uris, \
     post_logout_redirect_uris, public, first_party, retiring_secret_digest, retiring_secret_until, id_token_alg";

fn client_from(row: &Row) -> Result<ClientRecord, StoreError> {
    const T: &str = "clients";
    Ok(ClientRecord {
        client_id: col(row, T, "client_id")?,
        secret_digest: col(row, T, "secret_digest")?,
        scopes: col(row, T, "scopes")?,
        created_at: col(row, T, "created_at")?,
        redirect_uris: col(row, T, "redirect_uris")?,
        post_logout_redirect_uris: col(row, T, "post_logout_redirect_uris")?,
        public: col(row, T, "public")?,
        first_party: col(row, T, "first_party")?,
        retiring_secret: match (
            col::<Option<String>>(row, T, "retiring_secret_digest")?,
            col::<Option<i64>>(row, T, "retiring_secret_until")?,
        ) {
            (Some(digest), Some(until)) => Some(RetiringSecret { digest, until }),
            _ => None,
        },
        id_token_alg: col::<String>(row, T, "id_token_alg")?
            .parse()
            .map_err(|e: String| StoreError::Corrupt { tree: T, detail: e })?,
    })
}

/// Inserts a client within `tx`.
pub(super) async fn insert_client(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &ClientRecord,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
        &[
            &c.client_id,
            &c.secret_digest,
            &c.scopes,
            &c.created_at,
            &c.redirect_uris,
            &c.post_logout_redirect_uris,
            &c.public,
            &c.first_party,
            &c.retiring_secret.as_ref().map(|r| r.digest.as_str()),
            &c.retiring_secret.as_ref().map(|r| r.until),
            &c.id_token_alg.name(),
        ],
    )
    .await
    .map(|_| ())
}

impl PgStore {
    /// Registers a client; [`StoreError::Taken`] if the id exists.
    pub async fn create_client(&self, c: &ClientRecord) -> Result<(), StoreError> {
        transaction!(self, tx, {
            match insert_client(tx, c).await {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Taken(Unique::ClientId)),
                Err(e) => Err(error(e)),
            }
        })
    }

    /// The client `client_id`.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        self.select_one(&sql, &[&client_id], client_from).await
    }

    /// Every client, in id order.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY client_id");
        self.select_all(&sql, &[], client_from).await
    }

    /// How many clients are registered.
    pub async fn client_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM clients").await
    }

    /// Removes a client, noting when; false if unknown.
    pub async fn remove_client(&self, client_id: &str, now: i64) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let removed = tx
                .execute("DELETE FROM clients WHERE client_id = $1", &[&client_id])
                .await
                .map_err(error)?;
            if removed == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO clients_removed (client_id, removed_at) VALUES ($1, $2) \
                 ON CONFLICT (client_id) DO UPDATE SET removed_at = excluded.removed_at",
                &[&client_id, &now],
            )
            .await
            .map_err(error)?;
            log(tx, Logged::from(&Change::ClientChanged(client_id.to_owned()))).await?;
            Ok(true)
        })
    }

    /// Replaces a confidential client's secret digest, the old one accepted until
    /// `old_until` when given; false if no such client has a secret. Logged, so
    /// every daemon checks the client's credentials again.
    pub async fn replace_client_secret(
        &self,
        client_id: &str,
        digest: &str,
        old_until: Option<i64>,
    ) -> Result<bool, StoreError> {
        transaction!(self, tx, {
            let replaced = tx
                .execute(
                    "UPDATE clients SET \
                     retiring_secret_digest = CASE WHEN $3::BIGINT IS NULL THEN NULL ELSE secret_digest END, \
                     retiring_secret_until = $3, secret_digest = $2 \
                     WHERE client_id = $1 AND NOT public",
                    &[&client_id, &digest, &old_until],
                )
                .await
                .map_err(error)?;
            if replaced == 0 {
                return Ok(false);
            }
            log(tx, Logged::from(&Change::ClientChanged(client_id.to_owned()))).await?;
            Ok(true)
        })
    }

    /// When a client with this id was last removed, if ever.
    pub async fn client_removed_at(&self, client_id: &str) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT removed_at FROM clients_removed WHERE client_id = $1";
        self.select_one(sql, &[&client_id], |r| col(r, "clients_removed", "removed_at"))
            .await
    }
}
