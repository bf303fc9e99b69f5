//! OAuth clients. Trees: `clients` (client id → [`ClientRecord`]) and
//! `clients_removed` (client id → Unix seconds of its last removal, big-endian i64),
//! so a client added again under the same id can be made strictly younger than every
//! token of the one removed.

use super::{
    ClientRecord, RetiringSecret, SledStore, StoreError, Unique, abort, decode, decode_all, eight_bytes, encode,
};
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

    /// Replaces a confidential client's secret digest with `digest`; the old one
    /// stays accepted until `old_until` when given. False if no such client has a
    /// secret.
    pub fn replace_client_secret(
        &self,
        client_id: &str,
        digest: &str,
        old_until: Option<i64>,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing();
        let replaced = self.clients.transaction(|clients| {
            let Some(value) = clients.get(client_id.as_bytes())? else {
                return Ok(false);
            };
            let mut client: ClientRecord = decode("clients", &value).or_else(abort)?;
            if client.public {
                return Ok(false);
            }
            let old = std::mem::replace(&mut client.secret_digest, digest.to_owned());
            client.retiring_secret = old_until.map(|until| RetiringSecret { digest: old, until });
            clients.insert(client_id.as_bytes(), encode(&client).or_else(abort)?)?;
            Ok(true)
        })?;
        Ok(replaced)
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
