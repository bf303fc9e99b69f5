//! Every record of the store as [`Item`]s, tree by tree, parents before children
//! (for `tesserad migrate`). Read from a stopped daemon's store: the lock on the data
//! directory keeps a running one out.

use super::revocations::{HORIZON, INDEXED_SINCE};
use super::users::StoredUser;
use super::{SledStore, StoreError, corrupt_index, decode, eight_bytes};
use crate::records::{
    ApiTokenRecord, AuditRecord, ClientRecord, CodeRecord, FactorsRecord, GrantRecord, KeyRecord, LinkRecord,
    RefreshRecord, SessionRecord,
};
use crate::store::transfer::Item;
use crate::store::{Barred, Revoked};
use uuid::Uuid;

type Items<'a> = Box<dyn Iterator<Item = Result<Item, StoreError>> + 'a>;

fn digest(tree: &'static str, key: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(key).map_err(|_| corrupt_index(tree))
}

fn uuid(tree: &'static str, bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| corrupt_index(tree))
}

fn text(tree: &'static str, bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| corrupt_index(tree))
}

impl SledStore {
    /// Every record, in an order that keeps references whole.
    pub fn export(&self) -> impl Iterator<Item = Result<Item, StoreError>> + '_ {
        let parts: Vec<Items<'_>> = vec![
            self.each(&self.users, |_, v| {
                let stored = StoredUser::decode(v)?;
                Ok(Item::User(stored.user, stored.logins.last))
            }),
            self.each(&self.sessions, |_, v| {
                Ok(Item::Session(decode::<SessionRecord>("sessions", v)?))
            }),
            self.each(&self.refresh, |k, v| {
                Ok(Item::Refresh(
                    digest("refresh_tokens", k)?,
                    decode::<RefreshRecord>("refresh_tokens", v)?,
                ))
            }),
            self.each(&self.browser_cookies, |k, v| {
                Ok(Item::Cookie(digest("browser_cookies", k)?, uuid("browser_cookies", v)?))
            }),
            self.each(&self.revoked, |k, _| {
                let until = i64::from_be_bytes(eight_bytes("revoked", "until", k.get(..8).unwrap_or_default())?);
                let session_id = uuid("revoked", k.get(8..).unwrap_or_default())?;
                Ok(Item::Revoked(Revoked { session_id, until }))
            }),
            self.each(&self.barred, |k, v| {
                Ok(Item::Barred(Barred {
                    user_id: uuid("barred", k)?,
                    until: i64::from_be_bytes(eight_bytes("barred", "until", v)?),
                }))
            }),
            self.each(&self.denied, |k, v| {
                Ok(Item::Denied(
                    text("denied", k)?,
                    i64::from_be_bytes(eight_bytes("denied", "expiry", v)?),
                ))
            }),
            self.each(&self.api_tokens, |k, v| {
                Ok(Item::ApiToken(
                    digest("api_tokens", k)?,
                    decode::<ApiTokenRecord>("api_tokens", v)?,
                ))
            }),
            self.each(&self.clients, |_, v| {
                Ok(Item::Client(decode::<ClientRecord>("clients", v)?))
            }),
            self.each(&self.clients_removed, |k, v| {
                Ok(Item::ClientRemoved(
                    text("clients_removed", k)?,
                    i64::from_be_bytes(eight_bytes("clients_removed", "time", v)?),
                ))
            }),
            self.each(&self.keys, |_, v| Ok(Item::Key(decode::<KeyRecord>("keys", v)?))),
            self.each(&self.settings, |k, v| {
                Ok(Item::Setting(text("settings", k)?, text("settings", v)?))
            }),
            self.each(&self.meta, |k, v| {
                let number = || eight_bytes("meta", "value", v).map(i64::from_be_bytes);
                // Counts and the schema version are not copied: the database keeps its own.
                Ok(if k == HORIZON.as_bytes() {
                    Some(Item::Horizon(number()?))
                } else if k == INDEXED_SINCE.as_bytes() {
                    Some(Item::IndexedSince(number()?))
                } else {
                    None
                })
            }),
            self.each(&self.links, |k, v| {
                Ok(Item::Link(digest("links", k)?, decode::<LinkRecord>("links", v)?))
            }),
            self.each(&self.codes, |k, v| {
                Ok(Item::Code(digest("codes", k)?, decode::<CodeRecord>("codes", v)?))
            }),
            self.each(&self.grants, |k, v| {
                let user_id = uuid("grants", k.get(..16).unwrap_or_default())?;
                let client = text("grants", k.get(16..).unwrap_or_default())?;
                Ok(Item::Grant(user_id, client, decode::<GrantRecord>("grants", v)?))
            }),
            self.each(&self.factors, |k, v| {
                Ok(Item::Factors(
                    uuid("factors", k)?,
                    decode::<FactorsRecord>("factors", v)?,
                ))
            }),
            self.each(&self.audit, |_, v| Ok(Item::Audit(decode::<AuditRecord>("audit", v)?))),
        ];
        parts.into_iter().flatten()
    }

    /// `tree`'s entries through `item`.
    fn each<'a, T: Into<Option<Item>>>(
        &'a self,
        tree: &'a sled::Tree,
        item: impl Fn(&[u8], &[u8]) -> Result<T, StoreError> + 'a,
    ) -> Items<'a> {
        Box::new(tree.iter().filter_map(move |entry| {
            entry
                .map_err(StoreError::from)
                .and_then(|(k, v)| item(&k, &v).map(Into::into))
                .transpose()
        }))
    }
}
