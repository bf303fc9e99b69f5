//! Browser sessions: a person signed in at `/oauth/authorize`. They are sessions like
//! any other (kind `browser`, made by [`PgStore::create_session`] with a cookie instead
//! of a refresh token, so listing, revocation, disabling and deleting the user all
//! apply). Table `browser_cookies` maps the SHA-256 digest of the cookie's secret to the
//! session id; the secret itself is never stored.

use super::sessions::{SESSION_COLUMNS, session_from};
use super::{PgStore, StoreError, bytes, error};
use crate::store::SessionRecord;

impl PgStore {
    /// The browser session a cookie's digest names (ended ones included).
    pub async fn browser_session(&self, cookie: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE kind = 'browser' \
             AND id = (SELECT session_id FROM browser_cookies WHERE digest = $1)"
        );
        self.select_one(&sql, &[&bytes(cookie)], session_from).await
    }

    /// Forgets a browser cookie.
    pub async fn forget_browser_cookie(&self, cookie: &[u8; 32]) -> Result<(), StoreError> {
        transaction!(self, tx, {
            tx.execute("DELETE FROM browser_cookies WHERE digest = $1", &[&bytes(cookie)])
                .await
                .map_err(error)?;
            Ok(())
        })
    }
}
