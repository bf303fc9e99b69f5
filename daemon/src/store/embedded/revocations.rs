//! What can still end a token before it expires: a signature, `exp` and `nbf` bound
//! every access token's life, so only revocations younger than the longest access
//! token lifetime need checking, and the daemon keeps just those in memory.
//!
//! Trees: `revoked` (until ‖ session id → empty: a revoked session, kept until every
//! access token it can have had has expired) and `barred` (user id → until: a disabled
//! user for as long as they stay disabled, a deleted user until their last access
//! token has expired). Times are big-endian i64 Unix seconds. The token horizon (the
//! longest access-token lifetime ever configured, so that entries outlive the tokens
//! they concern even after the lifetime is shortened) is in `meta`.

use super::{Barred, Revoked, SledStore, StoreError, eight_bytes};
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// Key of the token horizon in `meta`.
pub(super) const HORIZON: &str = "token_horizon";
/// Key in `meta` of the time a store was upgraded from a version without this index:
/// tokens issued before it are checked against the store until they have expired.
pub(super) const INDEXED_SINCE: &str = "revocations_indexed_since";

/// Key of a revoked session: ordered by when its entry can go.
pub(super) fn revoked_key(until: i64, session_id: Uuid) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&until.to_be_bytes());
    key[8..].copy_from_slice(session_id.as_bytes());
    key
}

impl SledStore {
    /// Raises the stored token horizon to `configured` seconds if it is lower, and
    /// returns it: revocations are kept that long.
    pub fn raise_token_horizon(&self, configured: i64) -> Result<i64, StoreError> {
        let _writing = self.writing();
        let stored = self
            .meta
            .get(HORIZON)?
            .map(|v| eight_bytes("meta", HORIZON, &v).map(i64::from_be_bytes))
            .transpose()?
            .unwrap_or(0);
        let horizon = stored.max(configured);
        if horizon != stored {
            self.meta.insert(HORIZON, &horizon.to_be_bytes())?;
        }
        self.horizon.store(horizon, Ordering::Relaxed);
        Ok(horizon)
    }

    /// Until when an entry made at `now` for a token family ending by `end` at the
    /// latest must stay. Without a known horizon, until `end`.
    pub(super) fn kept_until(&self, now: i64, end: i64) -> i64 {
        match self.horizon.load(Ordering::Relaxed) {
            0 => end,
            horizon => end.min(now.saturating_add(horizon)),
        }
    }

    /// The revoked sessions and barred users whose entries are still needed at `now`.
    /// Reads only those: the revoked sessions from `now` on in key order.
    pub fn revocations(&self, now: i64) -> Result<(Vec<Revoked>, Vec<Barred>), StoreError> {
        let mut revoked = Vec::new();
        for key in self.revoked.range(now.saturating_add(1).to_be_bytes()..).keys() {
            let key = key?;
            let malformed = || super::corrupt_index("revoked");
            let until = i64::from_be_bytes(key.get(..8).and_then(|k| k.try_into().ok()).ok_or_else(malformed)?);
            let session_id = Uuid::from_slice(key.get(8..).ok_or_else(malformed)?).map_err(|_| malformed())?;
            revoked.push(Revoked { session_id, until });
        }
        let mut barred = Vec::new();
        for entry in self.barred.iter() {
            let (key, value) = entry?;
            let user_id = Uuid::from_slice(&key).map_err(|_| super::corrupt_index("barred"))?;
            let until = i64::from_be_bytes(eight_bytes("barred", "until", &value)?);
            if until > now {
                barred.push(Barred { user_id, until });
            }
        }
        Ok((revoked, barred))
    }

    /// When the store was upgraded from a version that kept no revocation index, if
    /// it was: tokens issued before then must be checked against the store itself.
    pub fn indexed_since(&self) -> Result<Option<i64>, StoreError> {
        self.meta
            .get(INDEXED_SINCE)?
            .map(|v| eight_bytes("meta", INDEXED_SINCE, &v).map(i64::from_be_bytes))
            .transpose()
    }

    /// Deletes revoked-session and barred-user entries no unexpired token can concern
    /// at `now`; returns how many.
    pub(super) fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for key in self.revoked.range(..now.saturating_add(1).to_be_bytes()).keys() {
            let _writing = self.writing();
            self.revoked.remove(key?)?;
            purged += 1;
        }
        for entry in self.barred.iter() {
            let (key, value) = entry?;
            let until = i64::from_be_bytes(eight_bytes("barred", "until", &value)?);
            // Deleted only if unchanged since read.
            let _writing = self.writing();
            if until <= now && self.barred.compare_and_swap(&key, Some(value), None::<&[u8]>)?.is_ok() {
                purged += 1;
            }
        }
        Ok(purged)
    }
}
