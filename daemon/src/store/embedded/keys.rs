//! Signing keys. Tree: `keys` (kid → [`KeyRecord`]).

use super::{KeyRecord, SledStore, StoreError, decode_all, encode};

impl SledStore {
    /// Every stored signing key, oldest first.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys: Vec<KeyRecord> = decode_all("keys", &self.keys)?;
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }

    /// Inserts or replaces signing keys, atomically.
    pub fn put_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        let _writing = self.writing();
        let encoded: Vec<(&str, Vec<u8>)> = keys
            .iter()
            .map(|k| encode(k).map(|v| (k.kid.as_str(), v)))
            .collect::<Result<_, _>>()?;
        self.keys.transaction(|tree| {
            for (kid, value) in &encoded {
                tree.insert(kid.as_bytes(), value.as_slice())?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Removes a signing key.
    pub fn remove_key(&self, kid: &str) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.keys.remove(kid.as_bytes())?;
        Ok(())
    }
}
