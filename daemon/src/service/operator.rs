//! What the console does (see README, "The console"): users, sessions, guest and registration
//! settings, keys, status and the audit trail. Every change is audited with the
//! operator's uid and takes effect at once on every HTTP path.

use super::accounts::{Registration, user_view};
use super::audit::{AuditEvent, audit_entry};
use super::{Operator, Service, ServiceError, pages, validate};
use crate::clock::rfc3339_unix;
use crate::secret::Secret;
use crate::store::{
    BackupSummary, Barred, FOR_GOOD, KeyRecord, LinkKind, Revoked, SessionKind, SessionRecord, Store, StoreError,
    Unique, UserRecord,
};
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tessera_common::admin::{
    Activity, AdminUser, AuditEntry, Compaction, GrantView, Page, RecordCounts, SessionView, StatusView,
};
use tessera_common::api::KeyView;
use uuid::Uuid;

/// Setting name of guest mode.
pub(super) const GUEST: &str = "guest_enabled";
/// Setting name of registration.
pub(super) const REGISTRATION: &str = "registration_open";
/// Audit entries returned when no limit is given.
const DEFAULT_AUDIT_LIMIT: usize = 50;

/// A stored on/off setting, or `default` (the config file's) if never changed.
pub(super) async fn stored_flag(store: &Store, name: &str, default: bool) -> Result<bool, StoreError> {
    Ok(match store.setting(name).await?.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => default,
    })
}

/// Input of `user add`.
#[derive(Debug)]
pub struct NewUser {
    /// Username.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role; default `user`.
    pub role: Option<String>,
    /// Display name; default the username.
    pub display_name: Option<String>,
    /// Initial password.
    pub password: Secret,
}

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
    pub(super) async fn find_user(&self, name: &str) -> Result<UserRecord, ServiceError> {
        self.store
            .user_by_login(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no user {name:?}")))
    }

    /// Applies `change` to the stored user atomically; `NOT_FOUND` if it was deleted.
    async fn change_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut UserRecord) -> bool,
    ) -> Result<UserRecord, ServiceError> {
        self.store
            .modify_user(id, change)
            .await?
            .ok_or_else(|| ServiceError::NotFound("the user was deleted".into()))
    }

    fn check_role(&self, role: &str) -> Result<(), ServiceError> {
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
    async fn admin_user(&self, user: &UserRecord) -> Result<AdminUser, ServiceError> {
        Ok(AdminUser {
            user: user_view(user),
            disabled: user.disabled,
            last_login_at: self.store.last_login(user.id).await?.map(rfc3339_unix),
        })
    }

    /// Counters and gauges: no store scan, so a console may poll it every second.
    pub async fn activity(&self) -> Activity {
        Activity {
            uptime_seconds: self.uptime_seconds(),
            sessions: self.store.session_count().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read the session count");
                0
            }),
            hash_queue: self.hash_queue(),
            counters: self.counters.snapshot(),
        }
    }

    /// Password hashes admitted and not yet answered.
    pub fn hash_queue(&self) -> u64 {
        self.passwords.queue_depth() as u64
    }

    /// Seconds since the daemon started.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Every activity count since start, for the metrics (a superset of what
    /// [`Self::activity`] shows the console, from the same counters).
    pub fn totals(&self) -> crate::service::Totals {
        self.counters.totals()
    }

    /// How many flush + fsync rounds the embedded store has run since start.
    pub fn store_syncs(&self) -> Option<u64> {
        self.store.syncs()
    }

    /// Durations of the store's flush + fsync rounds (embedded store only) and of
    /// password hashes, seconds.
    pub fn durations(&self) -> (Option<Histogram>, Histogram) {
        (self.store.sync_durations(), self.passwords.durations())
    }

    /// The store's size on disk in bytes, when it is on this machine's disk.
    pub async fn store_size(&self) -> Result<Option<u64>, ServiceError> {
        Ok(self.store.size_on_disk().await?)
    }

    /// Daemon status.
    pub async fn status(&self) -> Result<StatusView, ServiceError> {
        let records = RecordCounts {
            users: self.store.user_count().await?,
            sessions: self.store.session_count().await?,
            refresh_tokens: self.store.refresh_token_count().await?,
            api_tokens: self.store.api_token_count().await?,
            clients: self.store.client_count().await?,
            denied: self.store.denied_count().await?,
            audit: self.store.audit_count().await?,
        };
        Ok(StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            activity: self.activity().await,
            users: records.users,
            api_tokens: records.api_tokens,
            clients: records.clients,
            store_bytes: self.store.size_on_disk().await?.unwrap_or(0),
            records,
            compacted: self
                .store
                .compaction()?
                .map(|(at, before_bytes, after_bytes)| Compaction {
                    at: crate::clock::rfc3339_unix(at),
                    before_bytes,
                    after_bytes,
                }),
            guest_enabled: self.guest_enabled(),
            registration_open: self.registration_open(),
            key_ids: self.tokens.published().into_iter().map(|k| k.kid).collect(),
            roles: self.config.roles.keys().cloned().collect(),
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
        let role = input.role.unwrap_or_else(|| super::accounts::DEFAULT_ROLE.to_owned());
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
    pub(super) async fn revoke_user_sessions(&self, user_id: Uuid) -> Result<Vec<Revoked>, ServiceError> {
        let now = self.now().unix_timestamp();
        let mut revoked = Vec::new();
        for id in self.store.open_sessions_of(user_id, now).await? {
            revoked.extend(self.store.revoke_session(id, now).await?);
        }
        Ok(revoked)
    }

    /// Puts committed session revocations in the revocation view.
    pub(super) fn note_revoked(&self, revoked: Vec<Revoked>) {
        for r in revoked {
            self.revocations.revoke(r);
        }
    }

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
    pub(super) async fn owners(
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
    pub(super) async fn usernames(
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

    /// Turns guest mode on or off; stored, so it survives restarts.
    pub async fn set_guest(&self, operator: Operator, enabled: bool) -> Result<bool, ServiceError> {
        self.store
            .put_setting(GUEST, if enabled { "true" } else { "false" })
            .await?;
        self.admin_audit(operator, AuditEvent::Guest { enabled }).await;
        self.store.commit().await?;
        self.guest_enabled.store(enabled, Ordering::Relaxed);
        Ok(enabled)
    }

    /// Guest mode state.
    pub fn guest_status(&self) -> bool {
        self.guest_enabled()
    }

    /// Opens or closes registration; stored, so it survives restarts.
    pub async fn set_registration(&self, operator: Operator, open: bool) -> Result<bool, ServiceError> {
        self.store
            .put_setting(REGISTRATION, if open { "true" } else { "false" })
            .await?;
        self.admin_audit(operator, AuditEvent::Registration { open }).await;
        self.store.commit().await?;
        self.registration_open.store(open, Ordering::Relaxed);
        Ok(open)
    }

    /// Registration state.
    pub fn registration_status(&self) -> bool {
        self.registration_open()
    }

    /// Makes a new signing key; the previous one goes `retiring`. Returns the keys.
    pub async fn rotate_key(&self, operator: Operator) -> Result<Vec<KeyView>, ServiceError> {
        let persist = async |changed: &[KeyRecord]| -> Result<(), ServiceError> {
            match self.store.put_keys(changed).await {
                Err(StoreError::Taken(Unique::ActiveKey)) => Err(ServiceError::Conflict(
                    "a daemon sharing the store changed the keys at the same moment; rotate again".into(),
                )),
                other => Ok(other?),
            }
        };
        let kid = self.tokens.rotate(self.now(), persist).await?;
        self.admin_audit(operator, AuditEvent::KeyRotate { kid }).await;
        self.store.commit().await?;
        Ok(self.keys())
    }

    /// Writes a backup of the store to `out` while the daemon goes on serving (see
    /// [`Store::write_backup`]), on a blocking thread; audited once written.
    pub async fn backup(
        self: &Arc<Self>,
        operator: Operator,
        out: impl std::io::Write + Send + 'static,
    ) -> Result<BackupSummary, ServiceError> {
        let service = Arc::clone(self);
        let summary = tokio::task::spawn_blocking(move || match service.store.embedded() {
            Some(store) => store.write_backup(out),
            None => Err(StoreError::Unsupported(
                "online backups are of the embedded store; back up PostgreSQL with its own tools (pg_dump)",
            )),
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("the backup stopped: {e}")))??;
        tracing::info!(
            entries = summary.entries,
            changed = summary.changed,
            paused_ms = summary.paused.as_secs_f64() * 1e3,
            "backup sent"
        );
        self.admin_audit(
            operator,
            AuditEvent::Backup {
                entries: summary.entries,
            },
        )
        .await;
        self.store.commit().await?;
        Ok(summary)
    }

    /// One page of audit entries, newest first, older than the sequence number
    /// `page.after`; and the cursor of the next page when an older entry is kept.
    pub async fn audit_page(&self, page: &Page) -> Result<(Vec<AuditEntry>, Option<String>), ServiceError> {
        let limit = pages::limit(page)?;
        let before = match page.after.as_deref() {
            Some(after) => after
                .parse::<u64>()
                .map_err(|_| ServiceError::invalid("after", "a sequence number is expected"))?,
            None => u64::MAX,
        };
        let mut read = self.store.audit_before(before, limit + 1).await?;
        read.reverse();
        let (records, next) = pages::split(read, limit, |(seq, _)| seq.to_string());
        let entries = records
            .into_iter()
            .map(|(seq, record)| audit_entry(seq, record))
            .collect();
        Ok((self.with_usernames(entries).await, next))
    }

    /// The newest audit entries, oldest first (default [`DEFAULT_AUDIT_LIMIT`]).
    pub async fn audit_tail(&self, limit: Option<usize>) -> Result<Vec<AuditEntry>, ServiceError> {
        let records = self.store.audit_tail(limit.unwrap_or(DEFAULT_AUDIT_LIMIT)).await?;
        let entries = records
            .into_iter()
            .map(|(seq, record)| audit_entry(seq, record))
            .collect();
        Ok(self.with_usernames(entries).await)
    }
}
