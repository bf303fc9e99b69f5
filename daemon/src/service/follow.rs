//! Following the other daemons on a shared store. Each daemon keeps in memory what
//! token checks consult (the revocation view, guest and registration modes, the signing
//! keys, remembered client credentials); on a shared store another daemon's change
//! reaches that memory through the store's change log, read every [`POLL_EVERY`].
//! A poll re-reads the log's recent window and applies only the rows it has not seen.
//!
//! When no poll has succeeded for `[storage.postgres] max_staleness`, this daemon can
//! no longer know whether a token was revoked elsewhere: it refuses the tokens it
//! checks from memory (503, fail closed) until a poll succeeds again.

use super::{Service, ServiceError, operator};
use crate::locks::lock;
use crate::store::Change;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the change log is read.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// How long an applied row is remembered: longer than it stays in the read window.
const REMEMBERED: Duration = Duration::from_secs(30);
/// Polls between two purges of old change-log rows.
const PURGE_EVERY_POLLS: u64 = 300;

/// What the follower knows: the rows applied, and when a poll last succeeded.
#[derive(Debug)]
pub(super) struct Follower {
    seen: Mutex<HashMap<i64, Instant>>,
    synced: Mutex<Instant>,
    /// Set while the view is stale (logged once per outage).
    stale: AtomicBool,
}

impl Default for Follower {
    fn default() -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            synced: Mutex::new(Instant::now()),
            stale: AtomicBool::new(false),
        }
    }
}

impl Service {
    /// Reads the change log every [`POLL_EVERY`] until `stopping` (only on a shared
    /// store; on the embedded one this returns at once).
    pub async fn follow_changes(&self, mut stopping: watch::Receiver<bool>) {
        if !self.store.is_shared() {
            return;
        }
        let mut every = tokio::time::interval(POLL_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for poll in 1u64.. {
            tokio::select! {
                _ = every.tick() => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            match self.poll_changes().await {
                Ok(_) if self.follower.stale.swap(false, Ordering::Relaxed) => {
                    tracing::info!("the database answers again; checking tokens again");
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "could not read the change log"),
            }
            if poll % PURGE_EVERY_POLLS == 0
                && let Err(e) = self.store.purge_changes().await
            {
                tracing::debug!(error = %e, "could not purge the change log");
            }
        }
    }

    /// Applies the changes logged since the last poll; returns how many.
    pub(super) async fn poll_changes(&self) -> Result<usize, ServiceError> {
        let started = Instant::now();
        let logged = self.store.recent_changes().await?;
        let fresh: Vec<Change> = {
            let mut seen = lock(&self.follower.seen);
            seen.retain(|_, at| started.duration_since(*at) < REMEMBERED);
            logged
                .into_iter()
                .filter(|(id, _)| seen.insert(*id, started).is_none())
                .map(|(_, change)| change)
                .collect()
        };
        for change in &fresh {
            self.apply(change).await?;
        }
        *lock(&self.follower.synced) = started;
        Ok(fresh.len())
    }

    /// Makes another daemon's change this one's.
    async fn apply(&self, change: &Change) -> Result<(), ServiceError> {
        match change {
            Change::SessionRevoked(revoked) => self.revocations.revoke(*revoked),
            Change::UserBarred(barred) => self.revocations.bar(*barred),
            Change::UserAdmitted(user_id) => self.revocations.admit(*user_id),
            Change::Denied(jti, exp) => self.revocations.deny(jti, *exp),
            Change::Setting(name) if name == operator::GUEST => {
                let enabled = operator::stored_flag(&self.store, name, self.config.guest_enabled).await?;
                self.guest_enabled.store(enabled, Ordering::Relaxed);
            }
            Change::Setting(name) if name == operator::REGISTRATION => {
                let open = operator::stored_flag(&self.store, name, self.config.registration_open).await?;
                self.registration_open.store(open, Ordering::Relaxed);
            }
            Change::Setting(_) => {}
            Change::Keys => self.tokens.reload(self.store.keys().await?).await?,
            Change::ClientRemoved(client_id) => self.checked_clients.forget(client_id),
        }
        Ok(())
    }

    /// `OVERLOADED` (503) when this daemon shares its store and has not read the
    /// change log for `max_staleness`: a token may have been revoked elsewhere since.
    pub(super) fn require_current_view(&self) -> Result<(), ServiceError> {
        let crate::config::Storage::Postgres(postgres) = &self.config.storage else {
            return Ok(());
        };
        let since = lock(&self.follower.synced).elapsed();
        if since <= postgres.max_staleness {
            return Ok(());
        }
        if !self.follower.stale.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                seconds = since.as_secs(),
                "no word from the database for longer than storage.postgres.max_staleness; \
                 refusing tokens until it answers"
            );
        }
        Err(ServiceError::Unavailable {
            retry_after: super::error::UNAVAILABLE_RETRY,
        })
    }
}
