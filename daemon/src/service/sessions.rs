//! Sessions: opening one at login, refresh-token rotation with reuse detection,
//! access-token refresh, logout, and the in-memory view of live sessions.

use super::audit::AuditEvent;
use super::{Caller, Issued, Origin, Service, ServiceError, after};
use crate::locks::{read, write};
use crate::secret::{self, REFRESH_PREFIX, Secret};
use crate::store::{RefreshRecord, Rotation, SessionRecord, Store, StoreError, UserRecord};
use crate::tokens::Grant;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use uuid::Uuid;

/// Live sessions one user may hold; logging in past it ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 100;

#[derive(Debug, Clone, Copy)]
struct LiveSession {
    user_id: Uuid,
    expires_at: i64,
}

/// Sessions that are neither revoked nor past their maximum age, and users who may
/// hold none (disabled or deleted), mirrored from the store so that checking a session
/// token reads nothing from it. Writers change the store first, then this view, and only then answer.
#[derive(Debug, Default)]
pub struct LiveSessions {
    map: RwLock<HashMap<Uuid, LiveSession>>,
    /// Disabled or deleted users: their tokens fail even if a session slipped in
    /// concurrently with the change.
    barred: RwLock<HashSet<Uuid>>,
    /// Revoked access tokens: jti → expiry.
    denied: RwLock<HashMap<String, i64>>,
}

impl LiveSessions {
    /// Loads every live session and every disabled user from the store.
    pub fn load(store: &Store, now: i64) -> Result<Self, StoreError> {
        let users = store.users()?;
        let existing: HashSet<Uuid> = users.iter().map(|u| u.id).collect();
        let map = store
            .live_sessions(now)?
            .into_iter()
            // A session of a deleted user (left by a crash mid-delete) is not live.
            .filter(|s| existing.contains(&s.user_id))
            .map(|s| {
                (
                    s.id,
                    LiveSession {
                        user_id: s.user_id,
                        expires_at: s.expires_at,
                    },
                )
            })
            .collect();
        let barred = users.into_iter().filter(|u| u.disabled).map(|u| u.id).collect();
        let denied = store.deny_list(now)?.into_iter().collect();
        Ok(Self {
            map: RwLock::new(map),
            barred: RwLock::new(barred),
            denied: RwLock::new(denied),
        })
    }

    fn insert(&self, session: &SessionRecord) {
        write(&self.map).insert(
            session.id,
            LiveSession {
                user_id: session.user_id,
                expires_at: session.expires_at,
            },
        );
    }

    fn remove(&self, id: Uuid) {
        write(&self.map).remove(&id);
    }

    /// Forgets every session of `user_id`.
    pub(super) fn remove_user(&self, user_id: Uuid) {
        write(&self.map).retain(|_, s| s.user_id != user_id);
    }

    /// Bars (`true`) or admits (`false`) a user.
    pub(super) fn bar(&self, user_id: Uuid, barred: bool) {
        if barred {
            write(&self.barred).insert(user_id);
        } else {
            write(&self.barred).remove(&user_id);
        }
    }

    /// True when `session_id` is live at `now` and belongs to `user_id`, who is not barred.
    pub fn is_live(&self, session_id: Uuid, user_id: Uuid, now: i64) -> bool {
        let live = read(&self.map)
            .get(&session_id)
            .is_some_and(|s| s.user_id == user_id && now < s.expires_at);
        live && !read(&self.barred).contains(&user_id)
    }

    /// Puts a revoked access token's jti on the deny-list until `exp`.
    pub(super) fn deny(&self, jti: &str, exp: i64) {
        write(&self.denied).insert(jti.to_owned(), exp);
    }

    /// True when the access token with `jti` was revoked.
    pub fn is_denied(&self, jti: &str) -> bool {
        read(&self.denied).contains_key(jti)
    }

    /// True when `user_id` is disabled or deleted.
    pub fn is_barred(&self, user_id: Uuid) -> bool {
        read(&self.barred).contains(&user_id)
    }

    /// How many sessions are live at `now`.
    pub fn count(&self, now: i64) -> usize {
        read(&self.map).values().filter(|s| now < s.expires_at).count()
    }

    /// Ids of the live sessions at `now`.
    pub fn ids(&self, now: i64) -> Vec<Uuid> {
        read(&self.map)
            .iter()
            .filter(|(_, s)| now < s.expires_at)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Drops sessions past their maximum age and deny-list entries past their expiry.
    pub fn sweep(&self, now: i64) {
        write(&self.map).retain(|_, s| now < s.expires_at);
        write(&self.denied).retain(|_, exp| now < *exp);
    }
}

/// Which endpoint a refresh token came through.
#[derive(Debug, Clone)]
pub enum Door {
    /// `POST /api/auth/token/refresh`.
    App,
    /// `POST /oauth/token`, `grant_type=refresh_token`.
    OAuth {
        /// The authenticated client, if credentials were sent.
        client: Option<super::clients::AuthenticatedClient>,
        /// A narrower scope for the new access token.
        scope: Option<Vec<String>>,
    },
}

impl Service {
    /// Opens a session for `user` with `scopes`: stores it with its first refresh
    /// token and signs the first access token. The caller commits.
    pub(super) fn open_session(
        &self,
        user: &UserRecord,
        scopes: Vec<String>,
        client_id: Option<String>,
    ) -> Result<Issued, ServiceError> {
        let now = self.now();
        let ttl = self.config.tokens;
        let session = SessionRecord {
            // Time-ordered, so that the oldest of sessions made in one second is known.
            id: Uuid::now_v7(),
            user_id: user.id,
            scopes,
            created_at: now.unix_timestamp(),
            expires_at: after(now, ttl.session_max_age).unix_timestamp(),
            revoked_at: None,
        };
        let refresh = secret::generate(REFRESH_PREFIX)?;
        let first = RefreshRecord {
            session_id: session.id,
            issued_at: now.unix_timestamp(),
            expires_at: after(now, ttl.refresh).unix_timestamp().min(session.expires_at),
            parent: None,
            rotated_at: None,
            client_id,
        };
        // The user must still be exactly as the caller checked them: a password, role
        // or account change (or a delete) during the caller's hashing wins.
        if !self.store.create_session(user, &session, &refresh.digest(), &first)? {
            return Err(ServiceError::LoginFailed);
        }
        self.live.insert(&session);
        // An operator change committed after that check revoked only the sessions it
        // saw, and may have cleared the live view before the insert above: look again.
        if self.store.user(user.id)?.as_ref() != Some(user) {
            self.store.revoke_session(session.id, now.unix_timestamp())?;
            self.live.remove(session.id);
            return Err(ServiceError::LoginFailed);
        }
        self.evict_oldest_sessions(user.id, session.id, now.unix_timestamp())?;
        let mut issued = self.session_access_token(user, &session, session.scopes.clone())?;
        issued.refresh_token = Some(refresh);
        Ok(issued)
    }

    /// Revokes a user's oldest live sessions beyond [`MAX_SESSIONS_PER_USER`], so that
    /// logging in again and again cannot grow the store and the live view without
    /// bound. The caller commits.
    fn evict_oldest_sessions(&self, user_id: Uuid, newest: Uuid, now: i64) -> Result<(), ServiceError> {
        let mut older: Vec<SessionRecord> = self
            .store
            .sessions_of(user_id)?
            .into_iter()
            .filter(|s| s.is_live(now) && s.id != newest)
            .collect();
        let keep = MAX_SESSIONS_PER_USER - 1;
        if older.len() <= keep {
            return Ok(());
        }
        older.sort_by_key(|s| (s.created_at, s.id));
        for old in &older[..older.len() - keep] {
            self.store.revoke_session(old.id, now)?;
            self.live.remove(old.id);
        }
        Ok(())
    }

    /// Signs an access token for `session`, never outliving it.
    fn session_access_token(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        scopes: Vec<String>,
    ) -> Result<Issued, ServiceError> {
        let now = self.now();
        let scopes = self.allowed_scopes(user, &scopes);
        let session_end = time::OffsetDateTime::from_unix_timestamp(session.expires_at).unwrap_or(now);
        let exp = after(now, self.config.tokens.access).min(session_end);
        let grant = Grant {
            sub: user.id.to_string(),
            scopes: scopes.clone(),
            role: Some(user.role.clone()),
            sid: Some(session.id.to_string()),
            username: Some(user.username.clone()),
            client_id: None,
        };
        self.issue(grant, now, exp, Some(super::accounts::principal(user)))
    }

    /// Revokes a session in the store and the live view, durably.
    pub(super) async fn revoke_session(&self, session_id: Uuid) -> Result<bool, ServiceError> {
        let revoked = self.store.revoke_session(session_id, self.now().unix_timestamp())?;
        self.store.commit().await?;
        self.live.remove(session_id);
        Ok(revoked)
    }

    /// `POST /api/auth/token/refresh` and the OAuth `refresh_token` grant: exchanges a
    /// refresh token for a new pair. The old token dies; presenting an already-exchanged
    /// token revokes its whole session. A token bound to a client works only through
    /// [`Door::OAuth`] with that client; otherwise it is refused and stays valid.
    pub async fn rotate_refresh(
        &self,
        token: Option<Secret>,
        origin: Origin,
        door: Door,
    ) -> Result<Issued, ServiceError> {
        let invalid = || ServiceError::InvalidToken { presented: true };
        let token = token.ok_or_else(|| ServiceError::required("refreshToken"))?;
        if !token.expose().starts_with(REFRESH_PREFIX) {
            return Err(invalid());
        }
        let old = token.digest();
        let now = self.now();
        let Some(record) = self.store.refresh_token(&old)? else {
            return Err(invalid());
        };
        if record.rotated_at.is_some() {
            return Err(self.reuse_detected(record.session_id, origin).await);
        }
        let bound_ok = match (&record.client_id, &door) {
            (None, _) => true,
            (
                Some(bound),
                Door::OAuth {
                    client: Some(client), ..
                },
            ) => bound == client.id(),
            (Some(_), _) => false,
        };
        if !bound_ok {
            return Err(invalid());
        }
        let session = self.store.session(record.session_id)?.ok_or_else(invalid)?;
        // Bound to a client that was removed and added again under the same id: the
        // binding was to the old one.
        if let Some(bound) = &record.client_id
            && self
                .store
                .client(bound)?
                .is_none_or(|c| session.created_at < c.created_at)
        {
            return Err(invalid());
        }
        let scopes = match door {
            Door::OAuth {
                scope: Some(requested), ..
            } if !requested.is_empty() => {
                if !tessera_common::scopes::is_subset(&requested, &session.scopes) {
                    return Err(ServiceError::InvalidScope(
                        "the requested scope exceeds the original grant".into(),
                    ));
                }
                tessera_common::scopes::dedup(requested)
            }
            _ => session.scopes.clone(),
        };
        if now.unix_timestamp() >= record.expires_at || !session.is_live(now.unix_timestamp()) {
            return Err(invalid());
        }
        let user = self
            .store
            .user(session.user_id)?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid)?;
        let next = secret::generate(REFRESH_PREFIX)?;
        let next_record = RefreshRecord {
            session_id: session.id,
            issued_at: now.unix_timestamp(),
            expires_at: after(now, self.config.tokens.refresh)
                .unix_timestamp()
                .min(session.expires_at),
            parent: Some(secret::hex(&old)),
            rotated_at: None,
            client_id: record.client_id.clone(),
        };
        match self
            .store
            .rotate_refresh(&old, &next.digest(), &next_record, now.unix_timestamp())?
        {
            Rotation::Rotated => {}
            Rotation::Reused { session_id } => return Err(self.reuse_detected(session_id, origin).await),
            Rotation::Invalid => return Err(invalid()),
        }
        let mut issued = self.session_access_token(&user, &session, scopes)?;
        issued.refresh_token = Some(next);
        self.audit(
            AuditEvent::Refresh {
                user: user.id,
                session: session.id,
            },
            Some(origin.to_string()),
        );
        self.store.commit().await?;
        Ok(issued)
    }

    /// A rotated refresh token came back: someone holds a copy. Kill the session.
    async fn reuse_detected(&self, session_id: Uuid, origin: Origin) -> ServiceError {
        tracing::warn!(%session_id, addr = %origin.addr, "refresh token reuse; revoking the session");
        self.audit(
            AuditEvent::RefreshReuse { session: session_id },
            Some(origin.to_string()),
        );
        match self.revoke_session(session_id).await {
            Ok(_) => ServiceError::InvalidToken { presented: true },
            Err(e) => e,
        }
    }

    /// `POST /api/auth/refresh`: a new access token for the caller's session, with the
    /// same scopes, never outliving the session.
    pub async fn refresh_access(&self, caller: Caller) -> Result<Issued, ServiceError> {
        let Caller::Session {
            session_id,
            user_id,
            claims,
        } = caller
        else {
            return Err(ServiceError::InsufficientScope("a session access token is required"));
        };
        let invalid = || ServiceError::InvalidToken { presented: true };
        let session = self.store.session(session_id)?.ok_or_else(invalid)?;
        let user = self.store.user(user_id)?.filter(|u| !u.disabled).ok_or_else(invalid)?;
        self.session_access_token(&user, &session, tessera_common::scopes::parse(&claims.scope))
    }

    /// `POST /api/auth/logout`: revokes the caller's session.
    pub async fn logout(&self, caller: Caller, origin: Origin) -> Result<(), ServiceError> {
        let Caller::Session {
            session_id, user_id, ..
        } = caller
        else {
            return Err(ServiceError::InsufficientScope("a session access token is required"));
        };
        self.audit(
            AuditEvent::Logout {
                user: user_id,
                session: session_id,
            },
            Some(origin.to_string()),
        );
        self.revoke_session(session_id).await?;
        Ok(())
    }
}
