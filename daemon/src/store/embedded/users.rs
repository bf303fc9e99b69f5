//! Users. Trees: `users` (id → [`StoredUser`]: the [`UserRecord`] and what the store
//! keeps of the user's sessions), `users_by_name` and `users_by_email` (lower-cased
//! username or email → id, unique indexes kept in step by transactions).
//! Deleting a user also deletes their sessions, API tokens, link tokens and consents (see [`super::sessions`]
//! and [`super::api_tokens`] for those trees). Disabling or deleting one bars them in
//! [`super::revocations`], in the same transaction.

use super::FOR_GOOD;
use super::api_tokens::user_token_key;
use super::{Barred, Counter, SledStore, StoreError, Unique, UserRecord, abort, corrupt_index, count, decode, encode};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::collections::BTreeMap;
use std::ops::Bound;
use uuid::Uuid;

/// A user as the `users` tree stores it: the record and the user's [`Logins`] in one
/// value, so that a user's sessions cost sled no key of their own (its memory follows
/// its key count).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredUser {
    pub user: UserRecord,
    pub logins: Logins,
}

impl StoredUser {
    /// Decodes a value of the `users` tree.
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode("users", bytes)
    }

    /// The user `id` within a transaction over the `users` tree.
    pub(super) fn read(
        users: &TransactionalTree,
        id: Uuid,
    ) -> Result<Option<Self>, ConflictableTransactionError<StoreError>> {
        users
            .get(id.as_bytes())?
            .map(|v| Self::decode(&v))
            .transpose()
            .or_else(abort)
    }

    /// Takes `session_id` off user `id`'s open sessions within a transaction over the
    /// `users` tree (nothing if either is not there).
    pub(super) fn close_session(
        users: &TransactionalTree,
        id: Uuid,
        session_id: Uuid,
    ) -> Result<(), ConflictableTransactionError<StoreError>> {
        if let Some(mut stored) = Self::read(users, id)?
            && stored.logins.close(session_id)
        {
            stored.write(users)?;
        }
        Ok(())
    }

    /// Stores `self` within a transaction over the `users` tree.
    pub(super) fn write(&self, users: &TransactionalTree) -> Result<(), ConflictableTransactionError<StoreError>> {
        users.insert(self.user.id.as_bytes(), encode(self).or_else(abort)?)?;
        Ok(())
    }
}

/// What a user's stored value keeps of their sessions.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Logins {
    /// When the user last opened a session (login, registration, password grant).
    pub last: Option<i64>,
    /// The user's sessions that are not revoked, oldest first: id and end (past
    /// ones stay until the purge deletes them).
    pub open: Vec<(Uuid, i64)>,
}

impl Logins {
    /// Takes `session_id` off the open sessions; false if it was not on them.
    pub(super) fn close(&mut self, session_id: Uuid) -> bool {
        let before = self.open.len();
        self.open.retain(|(id, _)| *id != session_id);
        self.open.len() != before
    }
}

impl SledStore {
    /// Inserts a new user, failing with [`StoreError::Taken`] if the username or email
    /// is already used (compared lower-cased).
    pub fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        let value = encode(&StoredUser {
            user: user.clone(),
            logins: Logins::default(),
        })?;
        let name_key = user.username.to_lowercase();
        let email_key = user.email.to_lowercase();
        let id = user.id.as_bytes();
        let trees = (&self.users, &self.users_by_name, &self.users_by_email, &self.meta);
        trees.transaction(|(users, by_name, by_email, meta)| {
            if by_name.get(name_key.as_bytes())?.is_some() {
                return abort(StoreError::Taken(Unique::Username));
            }
            if by_email.get(email_key.as_bytes())?.is_some() {
                return abort(StoreError::Taken(Unique::Email));
            }
            by_name.insert(name_key.as_bytes(), id)?;
            by_email.insert(email_key.as_bytes(), id)?;
            users.insert(id, value.as_slice())?;
            count(meta, Counter::Users, 1)?;
            Ok(())
        })?;
        Ok(())
    }

    /// The user with `id`.
    pub fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        Ok(self
            .users
            .get(id.as_bytes())?
            .map(|v| StoredUser::decode(&v))
            .transpose()?
            .map(|s| s.user))
    }

    /// The user whose username, or email when `login` holds an `@`, matches `login`
    /// case-insensitively.
    pub fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let index = if login.contains('@') {
            &self.users_by_email
        } else {
            &self.users_by_name
        };
        let Some(id) = index.get(login.to_lowercase().as_bytes())? else {
            return Ok(None);
        };
        let id = Uuid::from_slice(&id).map_err(|e| StoreError::Corrupt {
            tree: "users index",
            detail: e.to_string(),
        })?;
        self.user(id)
    }

    /// Every user, in id order.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.users
            .iter()
            .values()
            .map(|v| Ok(StoredUser::decode(&v?)?.user))
            .collect()
    }

    /// A page of users in the order of `users_by_name`.
    pub fn users_page(
        &self,
        after: Option<&str>,
        prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let after = after.map(str::to_lowercase);
        let is_next = |name: &[u8]| after.as_ref().is_none_or(|a| name > a.as_bytes());
        let start = |from: &str| match &after {
            Some(a) if a.as_str() >= from => Bound::Excluded(a.as_bytes().to_vec()),
            _ => Bound::Included(from.as_bytes().to_vec()),
        };
        let Some(prefix) = prefix else {
            let mut page = Vec::with_capacity(limit.min(1024));
            for entry in self
                .users_by_name
                .range::<Vec<u8>, _>((start(""), Bound::Unbounded))
                .take(limit)
            {
                page.extend(self.user(index_id(&entry?.1)?)?);
            }
            return Ok(page);
        };
        // By username: the index is in page order, so its first `limit` matches do; the
        // records are read only for the page.
        let mut found: BTreeMap<Vec<u8>, (Uuid, Option<UserRecord>)> = BTreeMap::new();
        for entry in self
            .users_by_name
            .range::<Vec<u8>, _>((start(prefix), Bound::Unbounded))
        {
            let (name, id) = entry?;
            if !name.starts_with(prefix.as_bytes()) || found.len() == limit {
                break;
            }
            found.insert(name.to_vec(), (index_id(&id)?, None));
        }
        // By email: in the order of addresses, so every match is read (for its username)
        // and sorted in, keeping only the first `limit`.
        for entry in self.users_by_email.scan_prefix(prefix.as_bytes()) {
            let Some(user) = self.user(index_id(&entry?.1)?)? else {
                continue;
            };
            let name = user.username.to_lowercase().into_bytes();
            if is_next(&name) {
                found.entry(name).or_insert((user.id, Some(user)));
                if found.len() > limit {
                    found.pop_last();
                }
            }
        }
        let mut page = Vec::with_capacity(found.len());
        for (id, read) in found.into_values() {
            match read {
                Some(user) => page.push(user),
                None => page.extend(self.user(id)?),
            }
        }
        Ok(page)
    }

    /// The ids of the users whose lower-cased username starts with `prefix`.
    pub fn user_ids_by_name_prefix(&self, prefix: &str) -> Result<Vec<Uuid>, StoreError> {
        self.users_by_name
            .scan_prefix(prefix.as_bytes())
            .map(|entry| index_id(&entry?.1))
            .collect()
    }

    /// How many users exist (a stored count: nothing is scanned).
    pub fn user_count(&self) -> Result<u64, StoreError> {
        self.counter(Counter::Users)
    }

    /// Changes a user's record atomically: `change` sees the current record (so
    /// concurrent changes of other fields are not lost) and returns false to leave it
    /// alone. Username and email (the indexed fields) must not change; a disabled user
    /// is barred, an enabled one admitted. Returns the record as stored, or `None` if
    /// the user does not exist.
    pub fn modify_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut UserRecord) -> bool,
    ) -> Result<Option<UserRecord>, StoreError> {
        let _writing = self.writing();
        let updated = (&self.users, &self.barred).transaction(|(users, barred)| {
            let Some(mut stored) = StoredUser::read(users, id)? else {
                return Ok(None);
            };
            let user = &mut stored.user;
            if change(user) {
                let disabled = user.disabled;
                stored.write(users)?;
                if disabled {
                    barred.insert(id.as_bytes(), &FOR_GOOD.to_be_bytes())?;
                } else {
                    barred.remove(id.as_bytes())?;
                }
            }
            Ok(Some(stored.user))
        })?;
        Ok(updated)
    }

    /// Deletes a user, their index entries and their sessions, and bars them until
    /// their last access token has expired.
    pub fn delete_user(&self, user: &UserRecord, now: i64) -> Result<Barred, StoreError> {
        let _writing = self.writing();
        let bar = Barred {
            user_id: user.id,
            until: self.kept_until(now, FOR_GOOD),
        };
        let tokens = self.api_tokens_of(user.id)?;
        let token_digests: Vec<(String, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                Ok((
                    t.id.clone(),
                    self.api_token_ids
                        .get(t.id.as_bytes())?
                        .map(|d| d.to_vec())
                        .unwrap_or_default(),
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let links = self.links_of(user.id)?;
        let grants = self.grant_keys_of(user.id)?;
        let name_key = user.username.to_lowercase();
        let email_key = user.email.to_lowercase();
        let trees = [
            &self.users,
            &self.users_by_name,
            &self.users_by_email,
            &self.sessions,
            &self.api_tokens,
            &self.api_token_ids,
            &self.user_api_tokens,
            &self.barred,
            &self.meta,
            &self.links,
            &self.user_links,
            &self.grants,
            &self.factors,
        ];
        trees[..].transaction(|trees| {
            let [
                users,
                by_name,
                by_email,
                all_sessions,
                api_tokens,
                api_ids,
                user_tokens,
                barred,
                meta,
                all_links,
                user_links,
                consents,
                factors,
            ] = trees.as_slice()
            else {
                return abort(StoreError::Engine("a transaction lost its trees".into()));
            };
            // Read here, so that a login racing the deletion either lands first and
            // is deleted too, or finds the user gone.
            let logins = users
                .remove(user.id.as_bytes())?
                .map(|v| StoredUser::decode(&v))
                .transpose()
                .or_else(abort)?
                .map(|stored| stored.logins)
                .unwrap_or_default();
            by_name.remove(name_key.as_bytes())?;
            by_email.remove(email_key.as_bytes())?;
            barred.insert(user.id.as_bytes(), &bar.until.to_be_bytes())?;
            count(meta, Counter::Users, -1)?;
            for (id, _) in logins.open {
                if all_sessions.remove(id.as_bytes())?.is_some() {
                    count(meta, Counter::Sessions, -1)?;
                }
            }
            for key in &grants {
                consents.remove(key)?;
            }
            factors.remove(user.id.as_bytes())?;
            for key in &links {
                user_links.remove(key)?;
                if let Some(digest) = key.get(17..) {
                    all_links.remove(digest)?;
                }
            }
            for (id, digest) in &token_digests {
                api_tokens.remove(digest.as_slice())?;
                if api_ids.remove(id.as_bytes())?.is_some() {
                    count(meta, Counter::ApiTokens, -1)?;
                }
                user_tokens.remove(user_token_key(user.id, id))?;
            }
            Ok(())
        })?;
        Ok(bar)
    }
}

/// The user id an index entry holds.
fn index_id(value: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(value).map_err(|_| corrupt_index("users index"))
}
