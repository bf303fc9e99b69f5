//! What a person does to their own account with their session token (see README,
//! "Your own account"): change the password, list their sessions and end one. The
//! token must be the person's own: an API token, or the token an app holds through
//! the authorization code flow, may not act on the account itself.

use super::audit::{AuditEvent, LoginAt};
use super::{Caller, Origin, Service, ServiceError, validate};
use crate::clock::rfc3339_unix;
use crate::records::{SessionKind, SessionRecord, UserRecord};
use crate::secret::Secret;
use tessera_common::api::OwnSession;
use tessera_common::claims::AccessClaims;
use uuid::Uuid;

/// The user, session and claims behind `caller` when it is the person's own session.
/// Neither an API token nor the token an app holds through the authorization code
/// flow (it names its `client_id`) may act on the account itself: an API token it
/// minted, a factor it enrolled or a password it set would outlive the consent.
pub(super) fn own_session(caller: &Caller) -> Result<(Uuid, Uuid, &AccessClaims), ServiceError> {
    match caller {
        Caller::Session { claims, .. } if claims.client_id.is_some() => Err(ServiceError::InsufficientScope(
            "a token issued to an app cannot act on the account itself",
        )),
        Caller::Session {
            user_id,
            session_id,
            claims,
        } => Ok((*user_id, *session_id, claims)),
        _ => Err(ServiceError::InsufficientScope("a session access token is required")),
    }
}

impl Service {
    /// The user behind the person's own session token, as stored now, and that session.
    pub(super) async fn own_user(&self, caller: &Caller) -> Result<(UserRecord, Uuid), ServiceError> {
        let (user_id, session_id, _) = own_session(caller)?;
        let user = self
            .store
            .user(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ServiceError::InvalidToken { presented: true })?;
        Ok((user, session_id))
    }

    /// [`Self::own_user`], once `password` (the request's `field`) is theirs: checked
    /// like a login, so the throttle counts a wrong one. The user is the record the
    /// password was checked against.
    pub(super) async fn recheck_password(
        &self,
        caller: &Caller,
        password: Option<Secret>,
        field: &'static str,
        origin: Origin,
    ) -> Result<(UserRecord, Uuid), ServiceError> {
        let (user, session_id) = self.own_user(caller).await?;
        let password = password.ok_or_else(|| ServiceError::required(field))?;
        let checked = self
            .check_password(&user.username, password, origin, LoginAt::Api)
            .await?;
        if checked.user.id != user.id {
            return Err(ServiceError::LoginFailed);
        }
        Ok((checked.user, session_id))
    }

    /// `POST /api/auth/password/change`: after the current password (a wrong one
    /// counts for the login throttle), the new one, within the policy; every other
    /// session ends, and a notice goes to the address.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: Option<Secret>,
        new: Option<Secret>,
        origin: Origin,
    ) -> Result<(), ServiceError> {
        own_session(caller)?;
        let new = new.ok_or_else(|| ServiceError::required("newPassword"))?;
        validate::password(new.expose(), self.config.password_min_length)
            .map_err(|e| ServiceError::invalid("newPassword", e.to_string()))?;
        let (user, own_session) = self
            .recheck_password(caller, current, "currentPassword", origin)
            .await?;
        let old = user.password_hash.clone();
        let phc = self.passwords.hash(new).await?;
        let changed = self
            .store
            .modify_user(user.id, |u| {
                // Only over the password just checked: a change made meanwhile wins.
                let unchanged = u.password_hash == old;
                if unchanged {
                    u.password_hash = phc.clone();
                }
                unchanged
            })
            .await?
            .ok_or_else(|| ServiceError::Conflict("the password was changed meanwhile; try again".into()))?;
        let now = self.now().unix_timestamp();
        let mut revoked = Vec::new();
        for id in self.store.open_sessions_of(user.id, now).await? {
            if id != own_session {
                revoked.extend(self.store.revoke_session(id, now).await?);
            }
        }
        self.audit(
            AuditEvent::PasswordChanged {
                user: user.id,
                revoked: revoked.len() as u64,
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        self.notify_password_changed(&changed).await;
        Ok(())
    }

    /// `GET /api/auth/sessions`: the person's open sessions, app and browser, newest
    /// first, the caller's own marked.
    pub async fn own_sessions(&self, caller: &Caller) -> Result<Vec<OwnSession>, ServiceError> {
        let (user, own_session) = self.own_user(caller).await?;
        let now = self.now().unix_timestamp();
        let mut sessions: Vec<SessionRecord> = self
            .store
            .sessions_of(user.id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now))
            .collect();
        sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(sessions
            .iter()
            .map(|s| OwnSession {
                id: s.id.to_string(),
                kind: match s.kind {
                    SessionKind::App => "app".into(),
                    SessionKind::Browser => "browser".into(),
                },
                client_id: s.client_id.clone(),
                scopes: s.scopes.clone(),
                created_at: rfc3339_unix(s.created_at),
                expires_at: rfc3339_unix(s.expires_at),
                current: s.id == own_session,
            })
            .collect())
    }

    /// `DELETE /api/auth/sessions/{id}`: ends one of the person's sessions (404 for
    /// anyone else's, or an unknown id).
    pub async fn end_own_session(&self, caller: &Caller, id: &str, origin: Origin) -> Result<(), ServiceError> {
        let (user, _) = self.own_user(caller).await?;
        let not_found = || ServiceError::NotFound(format!("no session {id} of yours"));
        let id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let now = self.now().unix_timestamp();
        self.store
            .session(id)
            .await?
            .filter(|s| s.user_id == user.id && s.is_live(now))
            .ok_or_else(not_found)?;
        self.audit(
            AuditEvent::Logout {
                user: user.id,
                session: id,
            },
            Some(origin.to_string()),
        )
        .await;
        self.revoke_session(id).await?;
        Ok(())
    }
}
