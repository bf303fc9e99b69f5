//! Authorization codes (see README, "Sign in with Tessera"). Tree `codes`: SHA-256 digest of `tsr_ac_…` →
//! [`CodeRecord`]. A code is used once: the exchange marks it used and records the
//! session it opens in one transaction, so a code presented again finds that session
//! to revoke. Used and expired codes stay an hour past their expiry for that, then
//! the purge deletes them.

use super::{CODE_KEPT, CodeRecord, CodeUse, SledStore, StoreError, abort, decode, encode};
use uuid::Uuid;

impl SledStore {
    /// Stores a new code under `digest`.
    pub fn create_code(&self, digest: &[u8; 32], code: &CodeRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.codes.insert(digest, encode(code)?)?;
        Ok(())
    }

    /// Uses the code under `digest` at `now` for the session `session_id`.
    pub fn use_code(&self, digest: &[u8; 32], now: i64, session_id: Uuid) -> Result<CodeUse, StoreError> {
        let _writing = self.writing();
        let outcome = self.codes.transaction(|codes| {
            let Some(value) = codes.get(digest)? else {
                return Ok(CodeUse::Unknown);
            };
            let mut code: CodeRecord = decode("codes", &value).or_else(abort)?;
            if code.used_at.is_some() {
                return Ok(CodeUse::Reused(code));
            }
            code.used_at = Some(now);
            code.session_id = Some(session_id);
            codes.insert(digest, encode(&code).or_else(abort)?)?;
            Ok(CodeUse::Fresh(code))
        })?;
        Ok(outcome)
    }

    /// Deletes codes expired more than [`CODE_KEPT`] ago; returns how many.
    pub(super) fn purge_codes(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.codes.iter() {
            let (digest, value) = entry?;
            let code: CodeRecord = decode("codes", &value)?;
            if code.expires_at.saturating_add(CODE_KEPT) <= now {
                let _writing = self.writing();
                self.codes.remove(digest)?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}
