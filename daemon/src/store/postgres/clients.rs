//! OAuth clients (`clients`, `clients_removed`), signing keys (`signing_keys`) and
//! operators' settings (`settings`). Removing a client, changing the keys and changing
//! a setting are logged for the other daemons.

use super::changes::{Logged, log};
use super::{PgStore, StoreError, col, error};
use crate::store::{Change, ClientRecord, KeyRecord, RetiringSecret, Unique};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

const CLIENT_COLUMNS: &str = "client_id, secret_digest, scopes, created_at, redirect_uris, \
     post_logout_redirect_uris, public, first_party, retiring_secret_digest, retiring_secret_until";

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
    })
}

/// Inserts a client within `tx`.
pub(super) async fn insert_client(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &ClientRecord,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
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

    /// Every signing key, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = "SELECT kid, secret, created_at, retired_at FROM signing_keys ORDER BY created_at, kid";
        self.select_all(sql, &[], |r| {
            Ok(KeyRecord {
                kid: col(r, "signing_keys", "kid")?,
                secret: col(r, "signing_keys", "secret")?,
                created_at: col(r, "signing_keys", "created_at")?,
                retired_at: col(r, "signing_keys", "retired_at")?,
            })
        })
        .await
    }

    /// Inserts or replaces signing keys in one transaction, and logs the change.
    pub async fn put_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        transaction!(self, tx, {
            // Retirements first: the new active key must find no other.
            for k in keys
                .iter()
                .filter(|k| k.retired_at.is_some())
                .chain(keys.iter().filter(|k| k.retired_at.is_none()))
            {
                let stored = tx
                    .execute(
                        "INSERT INTO signing_keys (kid, secret, created_at, retired_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (kid) DO UPDATE SET secret = excluded.secret, \
                         created_at = excluded.created_at, retired_at = excluded.retired_at",
                        &[&k.kid, &k.secret, &k.created_at, &k.retired_at],
                    )
                    .await;
                match stored {
                    Ok(_) => {}
                    // Another daemon made or rotated a key at the same moment.
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                        return Err(StoreError::Taken(Unique::ActiveKey));
                    }
                    Err(e) => return Err(error(e)),
                }
            }
            log(tx, Logged::from(&Change::Keys)).await
        })
    }

    /// Deletes the signing key `kid`, and logs the change.
    pub async fn remove_key(&self, kid: &str) -> Result<(), StoreError> {
        transaction!(self, tx, {
            tx.execute("DELETE FROM signing_keys WHERE kid = $1", &[&kid])
                .await
                .map_err(error)?;
            log(tx, Logged::from(&Change::Keys)).await
        })
    }

    /// The stored value of setting `name`.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.select_one("SELECT value FROM settings WHERE name = $1", &[&name], |r| {
            col(r, "settings", "value")
        })
        .await
    }

    /// The value of setting `name`, storing `value` first if it has none.
    pub async fn setting_or_init(&self, name: &str, value: &str) -> Result<String, StoreError> {
        transaction!(self, tx, {
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )
            .await
            .map_err(error)?;
            let row = tx
                .query_one("SELECT value FROM settings WHERE name = $1", &[&name])
                .await
                .map_err(error)?;
            col(&row, "settings", "value")
        })
    }

    /// Stores setting `name`, and logs the change.
    pub async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        transaction!(self, tx, {
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&name, &value],
            )
            .await
            .map_err(error)?;
            log(tx, Logged::from(&Change::Setting(name.to_owned()))).await
        })
    }
}
