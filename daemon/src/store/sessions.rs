//! Sessions and their refresh tokens. Trees: `sessions` (id → [`SessionRecord`]),
//! `user_sessions` (user id ‖ session id → empty, an index), `refresh` (SHA-256 of the
//! secret → [`RefreshRecord`]) and `last_login` (user id → Unix seconds of the newest
//! session opened, big-endian i64).

use super::{
    RefreshRecord, SessionRecord, Store, StoreError, UserRecord, abort, corrupt_index, decode, eight_bytes, encode,
};
use sled::Transactional;
use uuid::Uuid;

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now dead and the new one stored.
    Rotated,
    /// The token had already been exchanged: a replay. Nothing was written.
    Reused {
        /// The session the token belonged to.
        session_id: Uuid,
    },
    /// Unknown token, or its session is revoked. Nothing was written.
    Invalid,
}

/// Index key of a session under its user.
pub(super) fn user_session_key(user_id: Uuid, session_id: Uuid) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(user_id.as_bytes());
    key[16..].copy_from_slice(session_id.as_bytes());
    key
}

impl Store {
    /// Stores a new session with its first refresh token, if `user` is still stored
    /// exactly as given (the caller checked a password or a role against it). Returns
    /// false, storing nothing, when the user changed or was deleted meanwhile.
    pub fn create_session(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        digest: &[u8; 32],
        first: &RefreshRecord,
    ) -> Result<bool, StoreError> {
        let value = encode(session)?;
        let refresh = encode(first)?;
        let index_key = user_session_key(session.user_id, session.id);
        let created = (
            &self.users,
            &self.sessions,
            &self.user_sessions,
            &self.refresh,
            &self.last_login,
        )
            .transaction(|(users, sessions, index, tokens, last_login)| {
                let current: Option<UserRecord> = users
                    .get(user.id.as_bytes())?
                    .map(|v| decode("users", &v))
                    .transpose()
                    .or_else(abort)?;
                if current.as_ref() != Some(user) {
                    return Ok(false);
                }
                sessions.insert(session.id.as_bytes(), value.as_slice())?;
                index.insert(&index_key, &[])?;
                tokens.insert(digest, refresh.as_slice())?;
                last_login.insert(session.user_id.as_bytes(), &session.created_at.to_be_bytes())?;
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

    /// Every session that is neither revoked nor past its maximum age at `now`.
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

    /// Marks a session revoked. Returns false if it was unknown or already revoked.
    pub fn revoke_session(&self, id: Uuid, now: i64) -> Result<bool, StoreError> {
        let revoked = self.sessions.transaction(|sessions| {
            let Some(v) = sessions.get(id.as_bytes())? else {
                return Ok(false);
            };
            let mut session: SessionRecord = decode("sessions", &v).or_else(abort)?;
            if session.revoked_at.is_some() {
                return Ok(false);
            }
            session.revoked_at = Some(now);
            sessions.insert(id.as_bytes(), encode(&session).or_else(abort)?)?;
            Ok(true)
        })?;
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
        let value = encode(record)?;
        let outcome = (&self.refresh, &self.sessions).transaction(|(tokens, sessions)| {
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
            Ok(Rotation::Rotated)
        })?;
        Ok(outcome)
    }

    /// Deletes refresh tokens past their expiry; returns how many.
    pub(super) fn purge_refresh_tokens(&self, now: i64) -> Result<usize, StoreError> {
        let mut tokens = 0;
        for entry in self.refresh.iter() {
            let (key, value) = entry?;
            let record: RefreshRecord = decode("refresh", &value)?;
            // Deleted only if unchanged since read (a concurrent rotation wins).
            if record.expires_at <= now && self.refresh.compare_and_swap(&key, Some(value), None::<&[u8]>)?.is_ok() {
                tokens += 1;
            }
        }
        Ok(tokens)
    }

    /// Deletes sessions past their maximum age, with their index entries; returns how
    /// many.
    pub(super) fn purge_sessions(&self, now: i64) -> Result<usize, StoreError> {
        let mut sessions = 0;
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let session: SessionRecord = decode("sessions", &value)?;
            if session.expires_at <= now {
                let index_key = user_session_key(session.user_id, session.id);
                (&self.sessions, &self.user_sessions).transaction(|(all, index)| {
                    all.remove(&key)?;
                    index.remove(&index_key)?;
                    Ok(())
                })?;
                sessions += 1;
            }
        }
        Ok(sessions)
    }
}
