//! OAuth clients. Trees: `clients` (client id → [`ClientRecord`]) and
//! `clients_removed` (client id → Unix seconds of its last removal, big-endian i64),
//! so a client added again under the same id can be made strictly younger than every
//! token of the one removed.

use super::{ClientRecord, SledStore, StoreError, Unique, decode, decode_all, eight_bytes, encode};
use sled::Transactional;

impl SledStore {
    /// Registers a client; [`StoreError::Taken`] if the id exists.
    pub fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        let value = encode(client)?;
        let inserted = self
            .clients
            .compare_and_swap(client.client_id.as_bytes(), None::<&[u8]>, Some(value))?;
        inserted.map_err(|_| StoreError::Taken(Unique::ClientId))
    }

    /// The client with `client_id`.
    pub fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.clients
            .get(client_id.as_bytes())?
            .map(|v| decode("clients", &v))
            .transpose()
    }

    /// Every client, in id order.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        decode_all("clients", &self.clients)
    }

    /// How many clients exist.
    pub fn client_count(&self) -> Result<u64, StoreError> {
        Ok(self.clients.len() as u64)
    }

    /// Removes a client, noting the time `now`; false if it did not exist.
    pub fn remove_client(&self, client_id: &str, now: i64) -> Result<bool, StoreError> {
        let _writing = self.writing();
        let removed = (&self.clients, &self.clients_removed).transaction(|(clients, removed)| {
            if clients.remove(client_id.as_bytes())?.is_none() {
                return Ok(false);
            }
            removed.insert(client_id.as_bytes(), &now.to_be_bytes())?;
            Ok(true)
        })?;
        Ok(removed)
    }

    /// When a client with `client_id` was last removed, if ever.
    pub fn client_removed_at(&self, client_id: &str) -> Result<Option<i64>, StoreError> {
        self.clients_removed
            .get(client_id.as_bytes())?
            .map(|v| Ok(i64::from_be_bytes(eight_bytes("clients_removed", "time", &v)?)))
            .transpose()
    }
}
