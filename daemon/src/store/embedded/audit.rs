//! The audit trail. Tree: `audit` (sequence number, big-endian u64 → [`AuditRecord`]),
//! the newest [`AUDIT_CAPACITY`] kept, and none older than the retention the service
//! purges by ([`SledStore::purge_audit`]).

use super::{AUDIT_CAPACITY, AuditRecord, SledStore, StoreError, decode, eight_bytes, encode};
use std::sync::atomic::Ordering;

impl SledStore {
    /// Stores an audit entry under the next sequence number, dropping the oldest entry
    /// past [`AUDIT_CAPACITY`]; returns its sequence number.
    pub fn append_audit(&self, record: &AuditRecord) -> Result<u64, StoreError> {
        let seq = self.audit_next.fetch_add(1, Ordering::SeqCst);
        let _writing = self.writing();
        self.audit.insert(seq.to_be_bytes(), encode(record)?)?;
        if let Some(old) = seq.checked_sub(AUDIT_CAPACITY) {
            self.audit.remove(old.to_be_bytes())?;
        }
        Ok(seq)
    }

    /// Deletes the audit entries made before `before` (Unix seconds), oldest first;
    /// returns how many.
    pub fn purge_audit(&self, before: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.audit.iter() {
            let (key, value) = entry?;
            let record: AuditRecord = decode("audit", &value)?;
            // Entries are in the order they were made.
            if record.at >= before {
                break;
            }
            let _writing = self.writing();
            self.audit.remove(key)?;
            purged += 1;
        }
        Ok(purged)
    }

    /// How many audit entries are kept.
    pub fn audit_count(&self) -> Result<u64, StoreError> {
        Ok(self.audit.len() as u64)
    }

    /// The newest `limit` audit entries with their sequence numbers, oldest first.
    pub fn audit_tail(&self, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError> {
        self.audit_before(u64::MAX, limit)
    }

    /// The newest `limit` audit entries older than `before`, oldest first.
    pub fn audit_before(&self, before: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError> {
        let mut out: Vec<(u64, AuditRecord)> = self
            .audit
            .range(..before.to_be_bytes())
            .rev()
            .take(limit)
            .map(|e| {
                let (k, v) = e?;
                let seq = u64::from_be_bytes(eight_bytes("audit", "sequence number", &k)?);
                Ok((seq, decode("audit", &v)?))
            })
            .collect::<Result<_, StoreError>>()?;
        out.reverse();
        Ok(out)
    }
}
