//! Link tokens sent by mail (see README, "Email"). Trees: `links` (SHA-256 digest →
//! [`LinkRecord`]) and `user_links` (user id ‖ kind ‖ digest → nothing), so that a
//! successful use voids every other outstanding link of its kind for that user in the
//! same transaction. Used links stay until they expire; the purge deletes expired ones.

use super::users::Logins;
use super::users::StoredUser;
use super::{LinkKind, LinkRecord, LinkUse, SledStore, StoreError, UserRecord, abort, decode, encode};
use sled::Transactional;
use uuid::Uuid;

/// The `user_links` key of a link.
pub(super) fn user_link_key(user_id: Uuid, kind: LinkKind, digest: &[u8; 32]) -> Vec<u8> {
    let mut key = Vec::with_capacity(49);
    key.extend_from_slice(user_id.as_bytes());
    key.push(kind_byte(kind));
    key.extend_from_slice(digest);
    key
}

fn kind_byte(kind: LinkKind) -> u8 {
    match kind {
        LinkKind::Verify => 1,
        LinkKind::Reset => 2,
    }
}

impl SledStore {
    /// Stores a new link under `digest`.
    pub fn create_link(&self, digest: &[u8; 32], link: &LinkRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        let value = encode(link)?;
        let index = user_link_key(link.user_id, link.kind, digest);
        (&self.links, &self.user_links).transaction(|(links, by_user)| {
            links.insert(digest, value.as_slice())?;
            by_user.insert(index.as_slice(), &[])?;
            Ok(())
        })?;
        Ok(())
    }

    /// The link stored under `digest`.
    pub fn link(&self, digest: &[u8; 32]) -> Result<Option<LinkRecord>, StoreError> {
        self.links.get(digest)?.map(|v| decode("links", &v)).transpose()
    }

    /// Uses the link under `digest` if it is a live, unused `kind` link of an enabled
    /// user whose address is still the one it was sent to: applies `change` to the
    /// user (in the same transaction), marks the link used and deletes every other
    /// outstanding link of that kind for the user.
    pub fn use_link(
        &self,
        digest: &[u8; 32],
        kind: LinkKind,
        now: i64,
        change: impl Fn(&mut UserRecord),
    ) -> Result<LinkUse, StoreError> {
        let _writing = self.writing();
        let Some(link) = self.link(digest)? else {
            return Ok(LinkUse::Invalid);
        };
        let prefix = user_link_key(link.user_id, kind, &[0; 32]);
        let others: Vec<sled::IVec> = self
            .user_links
            .scan_prefix(&prefix[..17])
            .keys()
            .collect::<Result<_, _>>()?;
        let outcome = (&self.links, &self.user_links, &self.users).transaction(|(links, by_user, users)| {
            let Some(value) = links.get(digest)? else {
                return Ok(LinkUse::Invalid);
            };
            let mut link: LinkRecord = decode("links", &value).or_else(abort)?;
            let (user, logins) = match StoredUser::read(users, link.user_id)? {
                Some(stored) => (Some(stored.user), stored.logins),
                None => (None, Logins::default()),
            };
            let mut user = match LinkUse::check(&link, kind, now, user) {
                LinkUse::Used(user) => user,
                outcome => return Ok(outcome),
            };
            change(&mut user);
            StoredUser {
                user: user.clone(),
                logins,
            }
            .write(users)?;
            link.used_at = Some(now);
            links.insert(digest, encode(&link).or_else(abort)?)?;
            for key in &others {
                if key.get(17..) != Some(digest.as_slice()) {
                    by_user.remove(key)?;
                    links.remove(&key[17..])?;
                }
            }
            Ok(LinkUse::Used(user))
        })?;
        Ok(outcome)
    }

    /// Deletes links past their expiry; returns how many.
    pub(super) fn purge_links(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.links.iter() {
            let (digest, value) = entry?;
            let link: LinkRecord = decode("links", &value)?;
            let Ok(digest) = <[u8; 32]>::try_from(digest.as_ref()) else {
                continue;
            };
            if link.expires_at > now {
                continue;
            }
            let index = user_link_key(link.user_id, link.kind, &digest);
            let _writing = self.writing();
            (&self.links, &self.user_links).transaction(|(links, by_user)| {
                links.remove(&digest)?;
                by_user.remove(index.as_slice())?;
                Ok(())
            })?;
            purged += 1;
        }
        Ok(purged)
    }

    /// The `links` and `user_links` keys of every link of `user_id` (for deleting the
    /// user).
    pub(super) fn links_of(&self, user_id: Uuid) -> Result<Vec<sled::IVec>, StoreError> {
        Ok(self
            .user_links
            .scan_prefix(user_id.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?)
    }
}
