//! Settings an operator changed at run time, and the daemon's own (`settings`, name →
//! value); a stored value wins over the config file. Changing a setting is logged for
//! the other daemons.

use super::changes::{Logged, log};
use super::{PgStore, StoreError, col, error};
use crate::store::Change;

impl PgStore {
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
