//! Sessions and their refresh tokens. Trees: `sessions` (id → [`SessionRecord`], for
//! sessions not revoked: revoking one deletes its record and records the revocation in
//! [`super::revocations`]) and `refresh_tokens` (SHA-256 of the secret →
//! [`RefreshRecord`]). Which sessions a user holds, and when they last opened one, is
//! kept in the user's own value ([`Logins`] in [`StoredUser`]): sled's memory follows
//! its key count, so a session costs two keys (its record and its refresh token).

use super::revocations::revoked_key;
use super::users::{Logins, StoredUser};
use super::{
    Counter, RefreshRecord, Revoked, Rotation, SessionRecord, SessionStart, SledStore, StoreError, UserRecord, abort,
    count, decode, encode, walk_in_batches,
};
use sled::Transactional;
use std::ops::Bound;
use uuid::Uuid;

impl SledStore {
    /// Stores a new session with what it starts with (its first refresh token, or its
    /// browser cookie's digest), if `user` is still stored exactly as given (the
    /// caller checked a password or a role against it). Returns false, storing nothing,
    /// when the user changed or was deleted meanwhile.
    pub fn create_session(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        start: SessionStart<'_>,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing();
        let value = encode(session)?;
        let (first, cookie) = match start {
            SessionStart::Refresh(digest, record) => (Some((digest, encode(record)?)), None),
            SessionStart::Cookie(cookie) => (None, Some(cookie)),
        };
        let created = (
            &self.users,
            &self.sessions,
            &self.refresh,
            &self.browser_cookies,
            &self.meta,
        )
            .transaction(|(users, sessions, tokens, cookies, meta)| {
                let Some(mut stored) = StoredUser::read(users, user.id)? else {
                    return Ok(false);
                };
                if stored.user != *user {
                    return Ok(false);
                }
                sessions.insert(session.id.as_bytes(), value.as_slice())?;
                stored.logins.last = Some(session.created_at);
                stored.logins.open.push((session.id, session.expires_at));
                stored.write(users)?;
                if let Some((digest, refresh)) = &first {
                    tokens.insert(*digest, refresh.as_slice())?;
                    count(meta, Counter::Refresh, 1)?;
                }
                if let Some(cookie) = cookie {
                    cookies.insert(cookie, session.id.as_bytes())?;
                }
                count(meta, Counter::Sessions, 1)?;
                Ok(true)
            })?;
        Ok(created)
    }

    /// When `user_id` last opened a session (login, registration, password grant).
    pub fn last_login(&self, user_id: Uuid) -> Result<Option<i64>, StoreError> {
        Ok(self.logins_of(user_id)?.last)
    }

    /// What `user_id`'s stored value keeps of their sessions (nothing if there is no
    /// such user).
    pub(super) fn logins_of(&self, user_id: Uuid) -> Result<Logins, StoreError> {
        Ok(self
            .users
            .get(user_id.as_bytes())?
            .map(|v| StoredUser::decode(&v))
            .transpose()?
            .map(|stored| stored.logins)
            .unwrap_or_default())
    }

    /// The session with `id`.
    pub fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(id.as_bytes())?
            .map(|v| decode("sessions", &v))
            .transpose()
    }

    /// Every session of `user_id` not revoked (those past their maximum age
    /// included, until the purge deletes them), oldest first.
    pub fn sessions_of(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for (id, _) in self.logins_of(user_id)?.open {
            out.extend(self.session(id)?);
        }
        Ok(out)
    }

    /// The ids of `user_id`'s sessions that are neither revoked nor past their maximum
    /// age at `now`, oldest first. Reads the user's value only.
    pub fn open_sessions_of(&self, user_id: Uuid, now: i64) -> Result<Vec<Uuid>, StoreError> {
        let logins = self.logins_of(user_id)?;
        Ok(logins
            .open
            .into_iter()
            .filter(|(_, end)| now < *end)
            .map(|(id, _)| id)
            .collect())
    }

    /// A page of live sessions in id order.
    pub fn sessions_page(
        &self,
        after: Option<Uuid>,
        users: Option<&[Uuid]>,
        now: i64,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let is_next = |id: &Uuid| after.is_none_or(|a| *id > a);
        let mut page = Vec::with_capacity(limit.min(1024));
        let Some(users) = users else {
            let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_bytes().to_vec()));
            for entry in self.sessions.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
                if page.len() == limit {
                    break;
                }
                let session: SessionRecord = decode("sessions", &entry?.1)?;
                if session.is_live(now) {
                    page.push(session);
                }
            }
            return Ok(page);
        };
        let mut ids = Vec::new();
        for user in users {
            ids.extend(self.open_sessions_of(*user, now)?.into_iter().filter(is_next));
        }
        ids.sort_unstable();
        for id in ids {
            if page.len() == limit {
                break;
            }
            if let Some(session) = self.session(id)?.filter(|s| s.is_live(now)) {
                page.push(session);
            }
        }
        Ok(page)
    }

    /// The ids of the open sessions of `client_id`: a scan of the whole tree.
    pub fn open_sessions_of_client(&self, client_id: &str, now: i64) -> Result<Vec<Uuid>, StoreError> {
        let mut open = Vec::new();
        for entry in self.sessions.iter() {
            let (_, v) = entry?;
            let session: SessionRecord = decode("sessions", &v)?;
            if session.client_id.as_deref() == Some(client_id) && session.is_live(now) {
                open.push(session.id);
            }
        }
        Ok(open)
    }

    /// Every session that is neither revoked nor past its maximum age at `now`: a
    /// scan of the whole tree, for listings.
    pub fn live_sessions(&self, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let mut live = Vec::new();
        for entry in self.sessions.iter() {
            let (_, v) = entry?;
            let session: SessionRecord = decode("sessions", &v)?;
            if session.is_live(now) {
                live.push(session);
            }
        }
        Ok(live)
    }

    /// How many stored sessions are not revoked (those past their maximum age
    /// included, until the purge deletes them).
    pub fn session_count(&self) -> Result<u64, StoreError> {
        self.counter(Counter::Sessions)
    }

    /// How many refresh-token records are stored (a stored count).
    pub fn refresh_token_count(&self) -> Result<u64, StoreError> {
        self.counter(Counter::Refresh)
    }

    /// Revokes a session: deletes its record and records the revocation for as long as
    /// an access token of the session can be unexpired. `None` if it was unknown or
    /// already revoked.
    pub fn revoke_session(&self, id: Uuid, now: i64) -> Result<Option<Revoked>, StoreError> {
        let _writing = self.writing();
        let revoked = (&self.sessions, &self.users, &self.revoked, &self.meta).transaction(
            |(sessions, users, revocations, meta)| {
                let Some(v) = sessions.remove(id.as_bytes())? else {
                    return Ok(None);
                };
                let session: SessionRecord = decode("sessions", &v).or_else(abort)?;
                StoredUser::close_session(users, session.user_id, id)?;
                let until = self.kept_until(now, session.expires_at);
                if until > now {
                    revocations.insert(&revoked_key(until, id), &[])?;
                }
                count(meta, Counter::Sessions, -1)?;
                Ok(Some(Revoked { session_id: id, until }))
            },
        )?;
        Ok(revoked)
    }

    /// The refresh token stored under `digest`.
    pub fn refresh_token(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError> {
        self.refresh
            .get(digest)?
            .map(|v| decode("refresh_tokens", &v))
            .transpose()
    }

    /// Exchanges the refresh token `old` for `new` atomically: succeeds only if `old`
    /// has not been rotated yet and its session is not revoked.
    pub fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        record: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let _writing = self.writing();
        let value = encode(record)?;
        let outcome = (&self.refresh, &self.sessions, &self.meta).transaction(|(tokens, sessions, meta)| {
            let Some(v) = tokens.get(old)? else {
                return Ok(Rotation::Invalid);
            };
            let mut current: RefreshRecord = decode("refresh_tokens", &v).or_else(abort)?;
            if current.rotated_at.is_some() {
                return Ok(Rotation::Reused {
                    session_id: current.session_id,
                });
            }
            // A revoked session's record is gone.
            if sessions.get(current.session_id.as_bytes())?.is_none() {
                return Ok(Rotation::Invalid);
            }
            current.rotated_at = Some(now);
            tokens.insert(old, encode(&current).or_else(abort)?)?;
            tokens.insert(new, value.as_slice())?;
            count(meta, Counter::Refresh, 1)?;
            Ok(Rotation::Rotated)
        })?;
        Ok(outcome)
    }

    /// Deletes refresh tokens past their expiry; returns how many.
    pub(super) fn purge_refresh_tokens(&self, now: i64, rest: &mut dyn FnMut()) -> Result<usize, StoreError> {
        let mut tokens = 0;
        walk_in_batches(&self.refresh, rest, |key, value| {
            let record: RefreshRecord = decode("refresh_tokens", value)?;
            if record.expires_at > now {
                return Ok(());
            }
            // Deleted only if unchanged since read (a concurrent rotation wins).
            let _writing = self.writing();
            let deleted = (&self.refresh, &self.meta).transaction(|(refresh, meta)| {
                if refresh.get(key)?.as_deref() != Some(value) {
                    return Ok(false);
                }
                refresh.remove(key)?;
                count(meta, Counter::Refresh, -1)?;
                Ok(true)
            })?;
            tokens += usize::from(deleted);
            Ok(())
        })?;
        Ok(tokens)
    }

    /// Deletes sessions past their maximum age, taking them off their user's open
    /// sessions; returns how many.
    pub(super) fn purge_sessions(&self, now: i64, rest: &mut dyn FnMut()) -> Result<usize, StoreError> {
        let mut sessions = 0;
        walk_in_batches(&self.sessions, rest, |key, value| {
            let session: SessionRecord = decode("sessions", value)?;
            if session.expires_at > now {
                return Ok(());
            }
            let _writing = self.writing();
            let deleted = (&self.sessions, &self.users, &self.meta).transaction(|(all, users, meta)| {
                // Only if still there (a concurrent revocation or deletion wins).
                if all.remove(key)?.is_none() {
                    return Ok(false);
                }
                count(meta, Counter::Sessions, -1)?;
                StoredUser::close_session(users, session.user_id, session.id)?;
                Ok(true)
            })?;
            sessions += usize::from(deleted);
            Ok(())
        })?;
        Ok(sessions)
    }
}
