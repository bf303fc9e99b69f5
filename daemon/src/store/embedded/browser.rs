//! Browser sessions: a person signed in at `/oauth/authorize`. They are sessions like
//! any other (kind [`SessionKind::Browser`], made by [`SledStore::create_session`] with a
//! cookie instead of a refresh token, so listing, revocation, disabling and deleting
//! the user all apply). Tree `browser_cookies` maps the SHA-256 digest of the cookie's
//! secret to the session id; the secret itself is never stored.

use super::{SessionKind, SessionRecord, SledStore, StoreError};
use uuid::Uuid;

impl SledStore {
    /// The browser session whose cookie has the digest `cookie`, as stored (revoked
    /// or expired ones included; the caller checks).
    pub fn browser_session(&self, cookie: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let Some(id) = self.browser_cookies.get(cookie)? else {
            return Ok(None);
        };
        let Ok(id) = Uuid::from_slice(&id) else {
            return Err(StoreError::Corrupt {
                tree: "browser_cookies",
                detail: "not a session id".into(),
            });
        };
        Ok(self.session(id)?.filter(|s| s.kind == SessionKind::Browser))
    }

    /// Forgets a cookie (signing out; the caller revokes its session).
    pub fn forget_browser_cookie(&self, cookie: &[u8; 32]) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.browser_cookies.remove(cookie)?;
        Ok(())
    }

    /// Deletes cookies whose session is gone or no longer live; returns how many.
    pub(super) fn purge_browser_cookies(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.browser_cookies.iter() {
            let (cookie, id) = entry?;
            let live = Uuid::from_slice(&id)
                .ok()
                .map(|id| self.session(id))
                .transpose()?
                .flatten()
                .is_some_and(|s| s.is_live(now));
            if !live {
                let _writing = self.writing();
                self.browser_cookies.remove(cookie)?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}
