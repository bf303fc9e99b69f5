//! The console's users: listing and paging them, adding, changing, disabling and
//! deleting one, its password, mail links and consents.

use crate::clock::rfc3339_unix;
use crate::secret::Secret;
use crate::service::accounts::{Registration, user_view};
use crate::service::audit::AuditEvent;
use crate::service::{Operator, Service, ServiceError, pages, validate};
use crate::store::{Barred, FOR_GOOD, LinkKind, Revoked, UserRecord};
use tessera_common::admin::{AdminUser, GrantView, Page};
use uuid::Uuid;

use super::NewUser;

impl Service {
    /// Applies `change` to the stored user atomically; `NOT_FOUND` if it was deleted.
    pub(super) async fn change_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut UserRecord) -> bool,
    ) -> Result<UserRecord, ServiceError> {
        self.store
            .modify_user(id, change)
            .await?
            .ok_or_else(|| ServiceError::NotFound("the user was deleted".into()))
    }

    pub(super) fn check_role(&self, role: &str) -> Result<(), ServiceError> {
        match self.config.role_scopes(role) {
            Some(_) => Ok(()),
            None => Err(ServiceError::invalid(
                "role",
                format!(
                    "no role {role:?}; configured roles: {}",
                    self.config.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// The console's view of a stored user.
    pub(super) async fn admin_user(&self, user: &UserRecord) -> Result<AdminUser, ServiceError> {
        Ok(AdminUser {
            user: user_view(user),
            disabled: user.disabled,
            last_login_at: self.store.last_login(user.id).await?.map(rfc3339_unix),
        })
    }

    /// Users whose username, email or display name contains `search` (any case).
    pub async fn list_users(&self, search: Option<&str>) -> Result<Vec<AdminUser>, ServiceError> {
        pages::fits_one_answer(self.store.user_count().await?, "users")?;
        let needle = search.map(str::to_lowercase);
        let mut users: Vec<UserRecord> = self
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| {
                needle.as_deref().is_none_or(|n| {
                    [&u.username, &u.email, &u.display_name]
                        .iter()
                        .any(|f| f.to_lowercase().contains(n))
                })
            })
            .collect();
        users.sort_by_key(|u| u.username.to_lowercase());
        let mut listed = Vec::with_capacity(users.len());
        for user in &users {
            listed.push(self.admin_user(user).await?);
        }
        Ok(listed)
    }

    /// One page of users (see [`tessera_common::admin::Request::UserList`]), and the
    /// cursor of the next page when a user follows.
    pub async fn user_page(
        &self,
        search: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<AdminUser>, Option<String>), ServiceError> {
        let limit = pages::limit(page)?;
        let prefix = search.map(str::to_lowercase).filter(|p| !p.is_empty());
        let read = self
            .store
            .users_page(page.after.as_deref(), prefix.as_deref(), limit + 1)
            .await?;
        let (users, next) = pages::split(read, limit, |u| u.username.clone());
        let mut listed = Vec::with_capacity(users.len());
        for user in &users {
            listed.push(self.admin_user(user).await?);
        }
        Ok((listed, next))
    }

    /// One user, by username or email.
    pub async fn show_user(&self, name: &str) -> Result<AdminUser, ServiceError> {
        self.admin_user(&self.find_user(name).await?).await
    }

    /// Creates a user; works while registration is closed.
    pub async fn add_user(&self, operator: Operator, input: NewUser) -> Result<AdminUser, ServiceError> {
        let role = input
            .role
            .unwrap_or_else(|| crate::service::accounts::DEFAULT_ROLE.to_owned());
        self.check_role(&role)?;
        let registration = Registration {
            username: Some(input.name),
            email: Some(input.email),
            password: Some(input.password),
            display_name: input.display_name,
        };
        let user = self.create_account(registration, &role).await?;
        self.admin_audit(
            operator,
            AuditEvent::UserAdd {
                user: user.id,
                username: user.username.clone(),
            },
        )
        .await;
        self.store.commit().await?;
        self.admin_user(&user).await
    }

    /// Changes a user's role and revokes their sessions, so that no token carries the
    /// old role past this answer.
    pub async fn set_role(&self, operator: Operator, name: &str, role: &str) -> Result<AdminUser, ServiceError> {
        self.check_role(role)?;
        let user = self.find_user(name).await?;
        let user = self
            .change_user(user.id, |u| {
                u.role = role.to_owned();
                true
            })
            .await?;
        let revoked = self.revoke_user_sessions(user.id).await?;
        self.admin_audit(
            operator,
            AuditEvent::UserSetRole {
                user: user.id,
                role: role.to_owned(),
            },
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        self.admin_user(&user).await
    }

    /// Disables (revoking every session for good) or enables a user.
    pub async fn set_disabled(
        &self,
        operator: Operator,
        name: &str,
        disabled: bool,
    ) -> Result<AdminUser, ServiceError> {
        let user = self.find_user(name).await?;
        let user = self
            .change_user(user.id, |u| {
                u.disabled = disabled;
                true
            })
            .await?;
        let revoked = if disabled {
            self.revoke_user_sessions(user.id).await?
        } else {
            Vec::new()
        };
        let (id, username) = (user.id, user.username.clone());
        let event = if disabled {
            AuditEvent::UserDisable { user: id, username }
        } else {
            AuditEvent::UserEnable { user: id, username }
        };
        self.admin_audit(operator, event).await;
        self.store.commit().await?;
        if disabled {
            self.revocations.bar(Barred {
                user_id: user.id,
                until: FOR_GOOD,
            });
        } else {
            self.revocations.admit(user.id);
        }
        self.note_revoked(revoked);
        self.admin_user(&user).await
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(&self, operator: Operator, name: &str) -> Result<(), ServiceError> {
        let user = self.find_user(name).await?;
        let barred = self.store.delete_user(&user, self.now().unix_timestamp()).await?;
        self.admin_audit(
            operator,
            AuditEvent::UserDelete {
                user: user.id,
                username: user.username.clone(),
            },
        )
        .await;
        self.store.commit().await?;
        self.revocations.bar(barred);
        Ok(())
    }

    /// Sets a user's password and revokes every session of theirs (as a reset does).
    /// Returns how many sessions were revoked.
    pub async fn set_password(&self, operator: Operator, name: &str, password: Secret) -> Result<u64, ServiceError> {
        validate::password(password.expose(), self.config.password_min_length)?;
        let user = self.find_user(name).await?;
        let phc = self.passwords.hash(password).await?;
        let user = self
            .change_user(user.id, |u| {
                u.password_hash = phc.clone();
                true
            })
            .await?;
        let revoked = self.revoke_user_sessions(user.id).await?;
        let count = revoked.len() as u64;
        self.admin_audit(
            operator,
            AuditEvent::UserSetPassword {
                user: user.id,
                revoked: count,
            },
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        self.notify_password_changed(&user).await;
        Ok(count)
    }

    /// Queues a verification (`kind` Verify) or reset message to the user, as the
    /// HTTP flows would; refused for a disabled user and once `mail.max_per_hour`
    /// such messages went to the address this hour.
    pub async fn send_link_to(&self, operator: Operator, name: &str, kind: LinkKind) -> Result<(), ServiceError> {
        let user = self.find_user(name).await?;
        if user.disabled {
            return Err(ServiceError::Conflict(format!(
                "{} is disabled; enable them first",
                user.username
            )));
        }
        if !self.send_link(&user, kind).await? {
            let what = match kind {
                LinkKind::Verify => "verification",
                LinkKind::Reset => "password-reset",
            };
            return Err(ServiceError::Conflict(format!(
                "not sent: {} already got {} {what} messages in the last hour, the most \
                 mail.max_per_hour allows; try again later",
                user.email, self.config.mail.max_per_hour
            )));
        }
        let event = match kind {
            LinkKind::Verify => AuditEvent::UserSendVerification { user: user.id },
            LinkKind::Reset => AuditEvent::UserSendReset { user: user.id },
        };
        self.admin_audit(operator, event).await;
        self.store.commit().await?;
        Ok(())
    }

    /// The clients `name` consented to.
    pub async fn list_grants(&self, name: &str) -> Result<Vec<GrantView>, ServiceError> {
        let user = self.find_user(name).await?;
        Ok(self
            .store
            .grants_of(user.id)
            .await?
            .into_iter()
            .map(|(client_id, grant)| GrantView {
                client_id,
                scopes: grant.scopes,
                granted_at: rfc3339_unix(grant.granted_at),
            })
            .collect())
    }

    /// Removes `name`'s consent to `client_id` and revokes that client's sessions of
    /// the user (their refresh and access tokens die with them). Returns how many.
    pub async fn revoke_grant(&self, operator: Operator, name: &str, client_id: &str) -> Result<u64, ServiceError> {
        let user = self.find_user(name).await?;
        let had_grant = self.store.remove_grant(user.id, client_id).await?;
        let now = self.now().unix_timestamp();
        let mut revoked = Vec::new();
        for session in self.store.sessions_of(user.id).await? {
            if session.client_id.as_deref() == Some(client_id) && session.is_live(now) {
                revoked.extend(self.store.revoke_session(session.id, now).await?);
            }
        }
        if !had_grant && revoked.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "{} has no grant to and no session of {client_id:?}",
                user.username
            )));
        }
        let count = revoked.len() as u64;
        self.admin_audit(
            operator,
            AuditEvent::GrantRevoked {
                user: user.id,
                client: client_id.to_owned(),
                revoked: count,
            },
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        Ok(count)
    }

    /// Marks every open session of `user_id` revoked in the store. The caller commits,
    /// then hands the result to [`Self::note_revoked`].
    pub(in crate::service) async fn revoke_user_sessions(&self, user_id: Uuid) -> Result<Vec<Revoked>, ServiceError> {
        let now = self.now().unix_timestamp();
        let mut revoked = Vec::new();
        for id in self.store.open_sessions_of(user_id, now).await? {
            revoked.extend(self.store.revoke_session(id, now).await?);
        }
        Ok(revoked)
    }

    /// Puts committed session revocations in the revocation view.
    pub(in crate::service) fn note_revoked(&self, revoked: Vec<Revoked>) {
        for r in revoked {
            self.revocations.revoke(r);
        }
    }
}
