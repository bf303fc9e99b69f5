//! Consents: which scopes a user granted to a client at the consent page. Tree
//! `grants`: user id ‖ client id → [`GrantRecord`].

use super::{GrantRecord, SledStore, StoreError, decode, encode};
use uuid::Uuid;

fn grant_key(user_id: Uuid, client_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + client_id.len());
    key.extend_from_slice(user_id.as_bytes());
    key.extend_from_slice(client_id.as_bytes());
    key
}

impl SledStore {
    /// Records (or replaces) `user_id`'s consent to `client_id`.
    pub fn put_grant(&self, user_id: Uuid, client_id: &str, grant: &GrantRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.grants.insert(grant_key(user_id, client_id), encode(grant)?)?;
        Ok(())
    }

    /// `user_id`'s consent to `client_id`, if given.
    pub fn grant(&self, user_id: Uuid, client_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.grants
            .get(grant_key(user_id, client_id))?
            .map(|v| decode("grants", &v))
            .transpose()
    }

    /// Every consent of `user_id`: client id and grant, in client id order.
    pub fn grants_of(&self, user_id: Uuid) -> Result<Vec<(String, GrantRecord)>, StoreError> {
        self.grants
            .scan_prefix(user_id.as_bytes())
            .map(|entry| {
                let (key, value) = entry?;
                let client = String::from_utf8_lossy(&key[16..]).into_owned();
                Ok((client, decode("grants", &value)?))
            })
            .collect()
    }

    /// Removes `user_id`'s consent to `client_id`; false if there was none.
    pub fn remove_grant(&self, user_id: Uuid, client_id: &str) -> Result<bool, StoreError> {
        let _writing = self.writing();
        Ok(self.grants.remove(grant_key(user_id, client_id))?.is_some())
    }

    /// Removes every consent to `client_id`: a scan of the whole tree.
    pub fn remove_grants_to(&self, client_id: &str) -> Result<u64, StoreError> {
        let _writing = self.writing();
        let mut removed = 0;
        for key in self.grants.iter().keys() {
            let key = key?;
            if key.get(16..) == Some(client_id.as_bytes()) && self.grants.remove(&key)?.is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The keys of every consent of `user_id` (for deleting the user).
    pub(super) fn grant_keys_of(&self, user_id: Uuid) -> Result<Vec<sled::IVec>, StoreError> {
        Ok(self
            .grants
            .scan_prefix(user_id.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?)
    }
}
