//! Browser sessions: a person signed in at `/oauth/authorize`. They are sessions like
//! any other (kind [`SessionKind::Browser`], in `sessions` and `user_sessions`, so
//! listing, revocation, disabling and deleting the user all apply), with no tokens of
//! their own. Tree `browser_cookies` maps the SHA-256 digest of the cookie's secret to
//! the session id; the secret itself is never stored.

use super::sessions::user_session_key;
use super::{Counter, SessionKind, SessionRecord, Store, StoreError, UserRecord, abort, count, decode, encode};
use sled::Transactional;
use uuid::Uuid;

impl Store {
    /// Stores a browser session and its cookie's digest, if `user` is still stored
    /// exactly as given (the caller checked a password against it).
    pub fn create_browser_session(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        cookie: &[u8; 32],
    ) -> Result<bool, StoreError> {
        debug_assert_eq!(session.kind, SessionKind::Browser);
        let _writing = self.writing();
        let value = encode(session)?;
        let index_key = user_session_key(session.user_id, session.id);
        let created = (
            &self.users,
            &self.sessions,
            &self.user_sessions,
            &self.browser_cookies,
            &self.last_login,
            &self.meta,
        )
            .transaction(|(users, sessions, index, cookies, last_login, meta)| {
                let current: Option<UserRecord> = users
                    .get(user.id.as_bytes())?
                    .map(|v| decode("users", &v))
                    .transpose()
                    .or_else(abort)?;
                if current.as_ref() != Some(user) {
                    return Ok(false);
                }
                sessions.insert(session.id.as_bytes(), value.as_slice())?;
                index.insert(&index_key, &session.expires_at.to_be_bytes())?;
                cookies.insert(cookie, session.id.as_bytes())?;
                last_login.insert(session.user_id.as_bytes(), &session.created_at.to_be_bytes())?;
                count(meta, Counter::Sessions, 1)?;
                Ok(true)
            })?;
        Ok(created)
    }

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
