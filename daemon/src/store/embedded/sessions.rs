//! Sessions and their refresh tokens. Trees: `sessions` (id → [`SessionRecord`]),
//! `user_sessions` (user id ‖ session id → the session's end while it is not revoked,
//! empty once it is: an index that answers "which sessions does this user hold" without
//! reading them), `refresh` (SHA-256 of the secret → [`RefreshRecord`]) and
//! `last_login` (user id → Unix seconds of the newest session opened). Times are
//! big-endian i64. Revoking a session also records it in [`super::revocations`].

use super::revocations::revoked_key;
use super::{
    Counter, RefreshRecord, Revoked, Rotation, SessionRecord, SessionStart, SledStore, StoreError, UserRecord, abort,
    corrupt_index, count, decode, eight_bytes, encode, walk_in_batches,
};
use sled::Transactional;
use std::ops::Bound;
use uuid::Uuid;

/// Index key of a session under its user.
pub(super) fn user_session_key(user_id: Uuid, session_id: Uuid) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(user_id.as_bytes());
    key[16..].copy_from_slice(session_id.as_bytes());
    key
}

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
        let index_key = user_session_key(session.user_id, session.id);
        let created = (
            &self.users,
            &self.sessions,
            &self.user_sessions,
            &self.refresh,
            &self.browser_cookies,
            &self.last_login,
            &self.meta,
        )
            .transaction(|(users, sessions, index, tokens, cookies, last_login, meta)| {
                let current: Option<UserRecord> = users
                    .get(user.id.as_bytes())?
                    .map(|v| decode("users", &v))
                    .transpose()
                    .or_else(abort)?;
                if current.as_ref() != Some(user) {
                    return Ok(false);
                }
                sessions.insert(session.id.as_bytes(), value.as_slice())?;
                index.insert(&index_key, &session.expires_at.to_be_bytes())?;
                if let Some((digest, refresh)) = &first {
                    tokens.insert(*digest, refresh.as_slice())?;
                    count(meta, Counter::Refresh, 1)?;
                }
                if let Some(cookie) = cookie {
                    cookies.insert(cookie, session.id.as_bytes())?;
                }
                last_login.insert(session.user_id.as_bytes(), &session.created_at.to_be_bytes())?;
                count(meta, Counter::Sessions, 1)?;
                Ok(true)
            })?;
        Ok(created)
    }

    /// When `user_id` last opened a session (login, registration, password grant).
    pub fn last_login(&self, user_id: Uuid) -> Result<Option<i64>, StoreError> {
        self.last_login
            .get(user_id.as_bytes())?
            .map(|v| Ok(i64::from_be_bytes(eight_bytes("last_login", "time", &v)?)))
            .transpose()
    }

    /// The session with `id`.
    pub fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(id.as_bytes())?
            .map(|v| decode("sessions", &v))
            .transpose()
    }

    /// Every session of `user_id`, revoked ones included.
    pub fn sessions_of(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.user_sessions.scan_prefix(user_id.as_bytes()).keys() {
            let key = key?;
            let id = Uuid::from_slice(&key[16..]).map_err(|_| corrupt_index("user_sessions"))?;
            if let Some(session) = self.session(id)? {
                out.push(session);
            }
        }
        Ok(out)
    }

    /// The ids of `user_id`'s sessions that are neither revoked nor past their maximum
    /// age at `now`, oldest first (ids are UUID v7). Reads the index only.
    pub fn open_sessions_of(&self, user_id: Uuid, now: i64) -> Result<Vec<Uuid>, StoreError> {
        let mut open = Vec::new();
        for entry in self.user_sessions.scan_prefix(user_id.as_bytes()) {
            let (key, end) = entry?;
            if end.len() == 8 && now < i64::from_be_bytes(eight_bytes("user_sessions", "end", &end)?) {
                open.push(Uuid::from_slice(&key[16..]).map_err(|_| corrupt_index("user_sessions"))?);
            }
        }
        Ok(open)
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

    /// Marks a session revoked and records the revocation for as long as an access
    /// token of the session can be unexpired. `None` if it was unknown or already
    /// revoked.
    pub fn revoke_session(&self, id: Uuid, now: i64) -> Result<Option<Revoked>, StoreError> {
        let _writing = self.writing();
        let revoked = (&self.sessions, &self.user_sessions, &self.revoked, &self.meta).transaction(
            |(sessions, index, revocations, meta)| {
                let Some(v) = sessions.get(id.as_bytes())? else {
                    return Ok(None);
                };
                let mut session: SessionRecord = decode("sessions", &v).or_else(abort)?;
                if session.revoked_at.is_some() {
                    return Ok(None);
                }
                session.revoked_at = Some(now);
                sessions.insert(id.as_bytes(), encode(&session).or_else(abort)?)?;
                index.insert(&user_session_key(session.user_id, id), &[])?;
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
        self.refresh.get(digest)?.map(|v| decode("refresh", &v)).transpose()
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
            let mut current: RefreshRecord = decode("refresh", &v).or_else(abort)?;
            if current.rotated_at.is_some() {
                return Ok(Rotation::Reused {
                    session_id: current.session_id,
                });
            }
            let Some(s) = sessions.get(current.session_id.as_bytes())? else {
                return Ok(Rotation::Invalid);
            };
            let session: SessionRecord = decode("sessions", &s).or_else(abort)?;
            if session.revoked_at.is_some() {
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
            let record: RefreshRecord = decode("refresh", value)?;
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

    /// Deletes sessions past their maximum age, with their index entries; returns how
    /// many.
    pub(super) fn purge_sessions(&self, now: i64, rest: &mut dyn FnMut()) -> Result<usize, StoreError> {
        let mut sessions = 0;
        walk_in_batches(&self.sessions, rest, |key, value| {
            let session: SessionRecord = decode("sessions", value)?;
            if session.expires_at > now {
                return Ok(());
            }
            let index_key = user_session_key(session.user_id, session.id);
            let _writing = self.writing();
            (&self.sessions, &self.user_sessions, &self.meta).transaction(|(all, index, meta)| {
                // Counted only if still there and not revoked (a concurrent change wins).
                if let Some(v) = all.remove(key)? {
                    let current: SessionRecord = decode("sessions", &v).or_else(abort)?;
                    if current.revoked_at.is_none() {
                        count(meta, Counter::Sessions, -1)?;
                    }
                }
                index.remove(&index_key)?;
                Ok(())
            })?;
            sessions += 1;
            Ok(())
        })?;
        Ok(sessions)
    }
}
