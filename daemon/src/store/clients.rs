//! OAuth clients. Tree: `clients` (client id → [`ClientRecord`]).

use super::{ClientRecord, Store, StoreError, Unique, decode, decode_all, encode};

impl Store {
    /// Registers a client; [`StoreError::Taken`] if the id exists.
    pub fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
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
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Removes a client; false if it did not exist.
    pub fn remove_client(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.remove(client_id.as_bytes())?.is_some())
    }
}
