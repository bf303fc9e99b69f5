//! What the console does (see README, "The console"): users, sessions, guest and registration
//! settings, keys, status and the audit trail. Every change is audited with the
//! operator's uid and takes effect at once on every HTTP path.

mod sessions;
mod users;

use super::audit::{AuditEvent, audit_entry};
use super::{Operator, Service, ServiceError, pages};
use crate::secret::Secret;
use crate::store::{BackupSummary, KeyRecord, Store, StoreError, Unique, UserRecord};
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tessera_common::admin::{Activity, AuditEntry, Compaction, Page, RecordCounts, StatusView};
use tessera_common::api::KeyView;

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

impl Service {
    pub(super) async fn find_user(&self, name: &str) -> Result<UserRecord, ServiceError> {
        self.store
            .user_by_login(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no user {name:?}")))
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
