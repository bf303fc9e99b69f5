//! The console's sessions: listing and paging them, revoking one or all of a user's.

use crate::clock::rfc3339_unix;
use crate::service::audit::AuditEvent;
use crate::service::{Operator, Service, ServiceError, pages};
use crate::store::{SessionKind, SessionRecord};
use tessera_common::admin::{Page, SessionView};
use uuid::Uuid;

/// The console's view of a session and its user's name.
fn session_view(session: &SessionRecord, username: &str) -> SessionView {
    SessionView {
        id: session.id.to_string(),
        user_id: session.user_id.to_string(),
        username: username.to_owned(),
        scopes: session.scopes.clone(),
        created_at: rfc3339_unix(session.created_at),
        expires_at: rfc3339_unix(session.expires_at),
        kind: match session.kind {
            SessionKind::App => "app",
            SessionKind::Browser => "browser",
        }
        .into(),
        client_id: session.client_id.clone(),
    }
}

impl Service {
    /// Live sessions, of one user or of all, oldest first.
    pub async fn list_sessions(&self, name: Option<&str>) -> Result<Vec<SessionView>, ServiceError> {
        let now = self.now().unix_timestamp();
        if name.is_none() {
            pages::fits_one_answer(self.store.session_count().await?, "sessions")?;
        }
        let mut views = Vec::new();
        match name {
            Some(name) => {
                let user = self.find_user(name).await?;
                for session in self
                    .store
                    .sessions_of(user.id)
                    .await?
                    .into_iter()
                    .filter(|s| s.is_live(now))
                {
                    views.push((session.created_at, session_view(&session, &user.username)));
                }
            }
            None => {
                for session in self.store.live_sessions(now).await? {
                    let username = self
                        .store
                        .user(session.user_id)
                        .await?
                        .map(|u| u.username)
                        .unwrap_or_default();
                    views.push((session.created_at, session_view(&session, &username)));
                }
            }
        }
        views.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(views.into_iter().map(|(_, v)| v).collect())
    }

    /// One page of live sessions in id order (see
    /// [`tessera_common::admin::Request::SessionList`]): of the user `name`, of the
    /// users whose username starts with `search`, or of everyone; and the cursor of the
    /// next page when a session follows.
    pub async fn session_page(
        &self,
        name: Option<&str>,
        search: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<SessionView>, Option<String>), ServiceError> {
        let limit = pages::limit(page)?;
        let after = page
            .after
            .as_deref()
            .map(|a| Uuid::parse_str(a).map_err(|_| ServiceError::invalid("after", "a session id is expected")))
            .transpose()?;
        let users = self.owners(name, search).await?;
        let now = self.now().unix_timestamp();
        let read = self
            .store
            .sessions_page(after, users.as_deref(), now, limit + 1)
            .await?;
        let (sessions, next) = pages::split(read, limit, |s| s.id.to_string());
        let names = self.usernames(sessions.iter().map(|s| s.user_id).collect()).await?;
        let views = sessions
            .iter()
            .map(|s| session_view(s, names.get(&s.user_id).map_or("", String::as_str)))
            .collect();
        Ok((views, next))
    }

    /// Whose entries a list shows: the user `name`, the users whose username starts
    /// with `search` (any case), or everyone (`None`).
    pub(in crate::service) async fn owners(
        &self,
        name: Option<&str>,
        search: Option<&str>,
    ) -> Result<Option<Vec<Uuid>>, ServiceError> {
        Ok(match (name, search.map(str::to_lowercase).filter(|s| !s.is_empty())) {
            (Some(name), _) => Some(vec![self.find_user(name).await?.id]),
            (None, Some(prefix)) => Some(self.store.user_ids_by_name_prefix(&prefix).await?),
            (None, None) => None,
        })
    }

    /// The usernames of `users`, each read once (a user deleted meanwhile has none).
    pub(in crate::service) async fn usernames(
        &self,
        users: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, String>, ServiceError> {
        let mut names = std::collections::HashMap::new();
        for id in users {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id) {
                slot.insert(self.store.user(id).await?.map(|u| u.username).unwrap_or_default());
            }
        }
        Ok(names)
    }

    /// Revokes one session.
    pub async fn revoke_session_by_id(&self, operator: Operator, id: &str) -> Result<(), ServiceError> {
        let not_found = || ServiceError::NotFound(format!("no live session {id:?}"));
        let session_id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let session = self.store.session(session_id).await?.ok_or_else(not_found)?;
        if !session.is_live(self.now().unix_timestamp()) {
            return Err(not_found());
        }
        self.admin_audit(
            operator,
            AuditEvent::SessionRevoke {
                user: session.user_id,
                session: session_id,
            },
        )
        .await;
        self.revoke_session(session_id).await?;
        Ok(())
    }

    /// Revokes every session of a user; returns how many.
    /// Removes every second factor and recovery code of the user `name` and ends
    /// their sessions (a lost phone); returns how many sessions ended.
    pub async fn reset_mfa(&self, operator: Operator, name: &str) -> Result<u64, ServiceError> {
        let user = self.find_user(name).await?;
        self.store.remove_factors(user.id).await?;
        let revoked = self.revoke_user_sessions(user.id).await?;
        let count = revoked.len() as u64;
        self.admin_audit(
            operator,
            AuditEvent::UserResetMfa {
                user: user.id,
                revoked: count,
            },
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        Ok(count)
    }

    /// Revokes every session of the user `name`; returns how many.
    pub async fn revoke_all_sessions(&self, operator: Operator, name: &str) -> Result<u64, ServiceError> {
        let user = self.find_user(name).await?;
        let revoked = self.revoke_user_sessions(user.id).await?;
        let count = revoked.len() as u64;
        self.admin_audit(
            operator,
            AuditEvent::SessionRevokeAll {
                user: user.id,
                revoked: count,
            },
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        Ok(count)
    }
}
