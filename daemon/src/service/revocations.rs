//! The revocation view: what can end a token before it expires (revoked sessions,
//! barred users, denied access-token ids), mirrored from the store so that checking a
//! token reads nothing from it. A signature, `exp` and `nbf` already bound every
//! token's life, so only entries that can concern an unexpired token are kept: memory
//! grows with recent revocations, not with users or sessions. Writers change the store
//! first, then this view, and only then answer.

use crate::locks::{read, write};
use crate::store::{Barred, Revoked, Store, StoreError};
use std::collections::HashMap;
use std::sync::RwLock;
use uuid::Uuid;

/// Revoked sessions, barred users and denied access tokens, each until the last token
/// it concerns has expired.
#[derive(Debug, Default)]
pub struct Revocations {
    /// Revoked sessions → when their last access token expires at the latest.
    sessions: RwLock<HashMap<Uuid, i64>>,
    /// Disabled (for good) or deleted users → when their entry can go.
    barred: RwLock<HashMap<Uuid, i64>>,
    /// Revoked access tokens: jti → expiry.
    denied: RwLock<HashMap<String, i64>>,
    /// For a store upgraded from a version without a revocation index: the upgrade
    /// time, and the end of the window in which tokens issued before it can still be
    /// unexpired. Such tokens are checked against the store itself.
    unindexed: Option<(i64, i64)>,
}

impl Revocations {
    /// Loads the entries still needed at `now`. `horizon` is the longest access-token
    /// lifetime the store has known.
    pub async fn load(store: &Store, now: i64, horizon: i64) -> Result<Self, StoreError> {
        let (revoked, barred) = store.revocations(now).await?;
        let unindexed = store
            .indexed_since()
            .await?
            .map(|since| (since, since.saturating_add(horizon)))
            .filter(|(_, until)| now < *until);
        Ok(Self {
            sessions: RwLock::new(revoked.into_iter().map(|r| (r.session_id, r.until)).collect()),
            barred: RwLock::new(barred.into_iter().map(|b| (b.user_id, b.until)).collect()),
            denied: RwLock::new(store.deny_list(now).await?.into_iter().collect()),
            unindexed,
        })
    }

    /// Records a revoked session.
    pub(super) fn revoke(&self, revoked: Revoked) {
        write(&self.sessions).insert(revoked.session_id, revoked.until);
    }

    /// Bars a user (disabled or deleted).
    pub(super) fn bar(&self, barred: Barred) {
        write(&self.barred).insert(barred.user_id, barred.until);
    }

    /// Admits a user again (enabled).
    pub(super) fn admit(&self, user_id: Uuid) {
        write(&self.barred).remove(&user_id);
    }

    /// True when `session_id` was revoked.
    pub fn is_revoked(&self, session_id: Uuid) -> bool {
        read(&self.sessions).contains_key(&session_id)
    }

    /// True when `user_id` is disabled or deleted.
    pub fn is_barred(&self, user_id: Uuid) -> bool {
        read(&self.barred).contains_key(&user_id)
    }

    /// Puts a revoked access token's jti on the deny-list until `exp`.
    pub(super) fn deny(&self, jti: &str, exp: i64) {
        write(&self.denied).insert(jti.to_owned(), exp);
    }

    /// True when the access token with `jti` was revoked.
    pub fn is_denied(&self, jti: &str) -> bool {
        read(&self.denied).contains_key(jti)
    }

    /// True when a token issued at `iat` predates the store's revocation index and can
    /// still be unexpired at `now`: only the store can tell whether it was revoked.
    pub fn predates_index(&self, iat: impl FnOnce() -> Option<i64>, now: i64) -> bool {
        self.unindexed
            .is_some_and(|(since, until)| now < until && iat().is_none_or(|iat| iat < since))
    }

    /// Drops entries no unexpired token can concern at `now`.
    pub fn sweep(&self, now: i64) {
        write(&self.sessions).retain(|_, until| now < *until);
        write(&self.barred).retain(|_, until| now < *until);
        write(&self.denied).retain(|_, exp| now < *exp);
    }

    /// How many entries are held: revoked sessions, barred users, denied tokens.
    #[cfg(test)]
    pub(super) fn held(&self) -> (usize, usize, usize) {
        (
            read(&self.sessions).len(),
            read(&self.barred).len(),
            read(&self.denied).len(),
        )
    }
}
