//! Revoked access tokens. Tree: `denied` (jti → expiry, big-endian i64 Unix seconds).
//! An entry is needed only until the token it names expires; the purge deletes it then.

use super::{SledStore, StoreError, eight_bytes};
use sled::IVec;

impl SledStore {
    /// Puts an access token's `jti` on the deny-list until `exp`.
    pub fn deny(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.denied.insert(jti.as_bytes(), &exp.to_be_bytes())?;
        Ok(())
    }

    /// The deny-list entries still needed at `now`: (jti, expiry) pairs.
    pub fn deny_list(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut live = Vec::new();
        for entry in self.denied_entries() {
            let (jti, _, exp) = entry?;
            if exp > now {
                live.push((String::from_utf8_lossy(&jti).into_owned(), exp));
            }
        }
        Ok(live)
    }

    /// How many deny-list entries are stored (expired ones until the purge).
    pub fn denied_count(&self) -> Result<u64, StoreError> {
        Ok(self.denied.len() as u64)
    }

    /// Deletes deny-list entries whose token has expired at `now`; returns how many.
    pub(super) fn purge_denied(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.denied_entries() {
            let (jti, stored, exp) = entry?;
            // Deleted only if unchanged since read.
            let _writing = self.writing();
            if exp <= now && self.denied.compare_and_swap(&jti, Some(stored), None::<&[u8]>)?.is_ok() {
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Every entry: its jti, its stored value and the expiry that value holds.
    fn denied_entries(&self) -> impl Iterator<Item = Result<(IVec, IVec, i64), StoreError>> + '_ {
        self.denied.iter().map(|entry| {
            let (jti, stored) = entry?;
            let exp = i64::from_be_bytes(eight_bytes("denied", "expiry", &stored)?);
            Ok((jti, stored, exp))
        })
    }
}
