//! Sessions: opening one at login, refresh-token rotation with reuse detection,
//! access-token refresh and logout. The in-memory view they keep in step is
//! [`super::revocations`].

use super::audit::AuditEvent;
use super::counters::{Counter, TokenKind};
use super::{Caller, Issued, Origin, Service, ServiceError, after};
use crate::records::BrowserLogin;
use crate::secret::{self, REFRESH_PREFIX, Secret};
use crate::store::{RefreshRecord, Rotation, SessionKind, SessionRecord, SessionStart, UserRecord};
use crate::tokens::Grant;
use uuid::Uuid;

/// Live sessions one user may hold; logging in past it ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 100;

/// Who presents a refresh token for rotation.
#[derive(Debug, Clone)]
pub enum RefreshBy {
    /// The app that holds the session: no client, so never a token bound to one.
    App,
    /// An OAuth client with the `refresh_token` grant (RFC 6749 §6).
    Client {
        /// The authenticated client, if credentials were sent.
        client: Option<super::clients::AuthenticatedClient>,
        /// A narrower scope for the new access token.
        scope: Option<Vec<String>>,
    },
}

/// What a presented refresh token finds in the store.
pub(super) enum Refresh {
    /// Nothing usable: unknown, past its end, its session not live, or its user
    /// disabled or deleted.
    Dead,
    /// Exchanged already: presenting it again is reuse (of this session).
    Exchanged(Uuid),
    /// Good for one exchange.
    Live(Box<LiveRefresh>),
}

/// A live refresh token: its record, its session and its user.
pub(super) struct LiveRefresh {
    pub record: RefreshRecord,
    pub session: SessionRecord,
    pub user: UserRecord,
}

impl Service {
    /// Opens a session for `user` with `scopes`: stores it with its first refresh
    /// token and signs the first access token. `None` when the user is no longer
    /// stored exactly as given: a password, role or account change (or a delete) made
    /// during the caller's hashing wins. The caller commits.
    pub(super) async fn open_session(
        &self,
        user: &UserRecord,
        scopes: Vec<String>,
        client_id: Option<String>,
    ) -> Result<Option<Issued>, ServiceError> {
        // Time-ordered, so that the oldest of sessions made in one second is known.
        let opened = self
            .open_session_as(Uuid::now_v7(), user, scopes, client_id, None)
            .await?;
        Ok(opened.map(|(issued, _)| issued))
    }

    /// [`Self::open_session`] with the session's id chosen by the caller (an
    /// authorization code records it before the session exists) and the browser
    /// sign-in behind it; returns the session too.
    pub(super) async fn open_session_as(
        &self,
        id: Uuid,
        user: &UserRecord,
        scopes: Vec<String>,
        client_id: Option<String>,
        browser_login: Option<BrowserLogin>,
    ) -> Result<Option<(Issued, SessionRecord)>, ServiceError> {
        let now = self.now();
        let ttl = self.config.tokens;
        let session = SessionRecord {
            id,
            user_id: user.id,
            scopes,
            created_at: now.unix_timestamp(),
            expires_at: after(now, ttl.session_max_age).unix_timestamp(),
            revoked_at: None,
            kind: SessionKind::App,
            client_id: client_id.clone(),
            browser_login,
        };
        let refresh = secret::generate(REFRESH_PREFIX)?;
        let first = RefreshRecord {
            session_id: session.id,
            issued_at: now.unix_timestamp(),
            expires_at: after(now, ttl.refresh).unix_timestamp().min(session.expires_at),
            rotated_at: None,
            client_id,
        };
        // An operator change to the user that lands before this fails it; one that
        // lands after finds the session stored and revokes it.
        if !self
            .store
            .create_session(user, &session, SessionStart::Refresh(&refresh.digest(), &first))
            .await?
        {
            return Ok(None);
        }
        self.evict_oldest_sessions(user.id, now.unix_timestamp()).await?;
        let mut issued = self.session_access_token(user, &session, session.scopes.clone())?;
        issued.refresh_token = Some(refresh);
        self.counters.bump(Counter::Issued(TokenKind::Refresh));
        Ok(Some((issued, session)))
    }

    /// Revokes a user's oldest open sessions beyond [`MAX_SESSIONS_PER_USER`], so that
    /// logging in again and again cannot grow the store without bound. Found in the
    /// store's per-user index, which marks revoked sessions without reading them. The
    /// caller commits.
    async fn evict_oldest_sessions(&self, user_id: Uuid, now: i64) -> Result<(), ServiceError> {
        let open = self.store.open_sessions_of(user_id, now).await?;
        for old in &open[..open.len().saturating_sub(MAX_SESSIONS_PER_USER)] {
            if let Some(revoked) = self.store.revoke_session(*old, now).await? {
                self.revocations.revoke(revoked);
            }
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
            client_id: session.client_id.clone(),
        };
        self.issue(grant, now, exp, Some(super::accounts::principal(user)))
    }

    /// Revokes a session in the store and the revocation view, durably.
    pub(super) async fn revoke_session(&self, session_id: Uuid) -> Result<bool, ServiceError> {
        let revoked = self
            .store
            .revoke_session(session_id, self.now().unix_timestamp())
            .await?;
        self.store.commit().await?;
        if let Some(revoked) = revoked {
            self.revocations.revoke(revoked);
        }
        Ok(revoked.is_some())
    }

    /// What the refresh token with `digest` finds at `now`: the one reading of a
    /// refresh token's liveness, for rotation and introspection alike.
    pub(super) async fn live_refresh(&self, digest: &[u8; 32], now: i64) -> Result<Refresh, ServiceError> {
        let Some(record) = self.store.refresh_token(digest).await? else {
            return Ok(Refresh::Dead);
        };
        if record.rotated_at.is_some() {
            return Ok(Refresh::Exchanged(record.session_id));
        }
        if now >= record.expires_at {
            return Ok(Refresh::Dead);
        }
        let Some(session) = self.store.session(record.session_id).await?.filter(|s| s.is_live(now)) else {
            return Ok(Refresh::Dead);
        };
        let Some(user) = self.store.user(session.user_id).await?.filter(|u| !u.disabled) else {
            return Ok(Refresh::Dead);
        };
        Ok(Refresh::Live(Box::new(LiveRefresh { record, session, user })))
    }

    /// `POST /api/auth/token/refresh` and the OAuth `refresh_token` grant: exchanges a
    /// refresh token for a new pair. The old token dies; presenting an already-exchanged
    /// token revokes its whole session. A token bound to a client works only through
    /// [`RefreshBy::Client`] with that client; otherwise it is refused and stays valid.
    pub async fn rotate_refresh(
        &self,
        token: Option<Secret>,
        origin: Origin,
        by: RefreshBy,
    ) -> Result<Issued, ServiceError> {
        let invalid = || ServiceError::InvalidToken { presented: true };
        let token = token.ok_or_else(|| ServiceError::required("refreshToken"))?;
        if !token.expose().starts_with(REFRESH_PREFIX) {
            return Err(invalid());
        }
        let old = token.digest();
        let now = self.now();
        let (record, session, user) = match self.live_refresh(&old, now.unix_timestamp()).await? {
            Refresh::Dead => return Err(invalid()),
            Refresh::Exchanged(session_id) => return Err(self.reuse_detected(session_id, origin).await),
            Refresh::Live(live) => (live.record, live.session, live.user),
        };
        let bound_ok = match (&record.client_id, &by) {
            (None, _) => true,
            (
                Some(bound),
                RefreshBy::Client {
                    client: Some(client), ..
                },
            ) => bound == client.id(),
            (Some(_), _) => false,
        };
        if !bound_ok {
            return Err(invalid());
        }
        // Bound to a client that was removed and added again under the same id: the
        // binding was to the old one. (`bound_ok` made the presenting client the bound one.)
        if let RefreshBy::Client {
            client: Some(client), ..
        } = &by
            && record.client_id.is_some()
            && session.created_at < client.created_at()
        {
            return Err(invalid());
        }
        let scopes = match by {
            RefreshBy::Client {
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
        let next = secret::generate(REFRESH_PREFIX)?;
        let next_record = RefreshRecord {
            session_id: session.id,
            issued_at: now.unix_timestamp(),
            expires_at: after(now, self.config.tokens.refresh)
                .unix_timestamp()
                .min(session.expires_at),
            rotated_at: None,
            client_id: record.client_id.clone(),
        };
        match self
            .store
            .rotate_refresh(&old, &next.digest(), &next_record, now.unix_timestamp())
            .await?
        {
            Rotation::Rotated => {}
            Rotation::Reused { session_id } => return Err(self.reuse_detected(session_id, origin).await),
            Rotation::Invalid => return Err(invalid()),
        }
        let mut issued = self.session_access_token(&user, &session, scopes)?;
        issued.refresh_token = Some(next);
        issued.id_token = self.refreshed_id_token(&user, &session, &issued.scopes).await?;
        self.counters.bump(Counter::Issued(TokenKind::Refresh));
        self.audit(
            AuditEvent::Refresh {
                user: user.id,
                session: session.id,
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        Ok(issued)
    }

    /// A rotated refresh token came back: someone holds a copy. Kill the session.
    async fn reuse_detected(&self, session_id: Uuid, origin: Origin) -> ServiceError {
        tracing::warn!(%session_id, addr = %origin.addr, "refresh token reuse; revoking the session");
        self.audit(
            AuditEvent::RefreshReuse { session: session_id },
            Some(origin.to_string()),
        )
        .await;
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
        let session = self.store.session(session_id).await?.ok_or_else(invalid)?;
        let user = self
            .store
            .user(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid)?;
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
        )
        .await;
        self.revoke_session(session_id).await?;
        Ok(())
    }
}
