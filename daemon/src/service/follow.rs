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
use std::future::Future;
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

impl Follower {
    /// Applies, in log order, every row not applied yet, and remembers a row only once
    /// it has been applied: a row whose application failed (a read of the store, say) is
    /// tried again at the next poll, and the rows after it are applied meanwhile. Fails
    /// when any row failed, so the poll does not count as a success.
    async fn apply_new<F, A>(
        &self,
        logged: Vec<(i64, Change)>,
        now: Instant,
        mut apply: F,
    ) -> Result<usize, ServiceError>
    where
        F: FnMut(Change) -> A,
        A: Future<Output = Result<(), ServiceError>>,
    {
        lock(&self.seen).retain(|_, at| now.duration_since(*at) < REMEMBERED);
        let (mut applied, mut failed) = (0, None);
        for (id, change) in logged {
            if lock(&self.seen).contains_key(&id) {
                continue;
            }
            match apply(change).await {
                Ok(()) => {
                    lock(&self.seen).insert(id, now);
                    applied += 1;
                }
                Err(e) => {
                    tracing::debug!(row = id, error = %e, "could not apply a change-log row; trying again at the next poll");
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(applied), Err)
    }
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
        let applied = self
            .follower
            .apply_new(logged, started, |change| async move { self.apply(&change).await })
            .await?;
        *lock(&self.follower.synced) = started;
        Ok(applied)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_row_that_fails_is_tried_again_and_does_not_hold_back_the_others() {
        let follower = Follower::default();
        let rows = || {
            vec![
                (1, Change::Denied("first".into(), 9)),
                (2, Change::Setting("guest".into())),
                (3, Change::Denied("third".into(), 9)),
            ]
        };
        let applied = Mutex::new(Vec::new());
        let store_down = AtomicBool::new(true);
        let apply = |change: Change| {
            let (applied, store_down) = (&applied, &store_down);
            async move {
                if matches!(change, Change::Setting(_)) && store_down.load(Ordering::Relaxed) {
                    return Err(ServiceError::Internal("the settings read failed".into()));
                }
                applied.lock().unwrap().push(change);
                Ok(())
            }
        };
        let now = Instant::now();
        assert!(
            follower.apply_new(rows(), now, apply).await.is_err(),
            "a failed row fails the poll"
        );
        assert_eq!(
            *applied.lock().unwrap(),
            [Change::Denied("first".into(), 9), Change::Denied("third".into(), 9)],
            "the rows around the failed one are applied"
        );
        // The next poll reads the same window: only the failed row is applied, now.
        store_down.store(false, Ordering::Relaxed);
        assert_eq!(follower.apply_new(rows(), now, apply).await.unwrap(), 1);
        assert_eq!(applied.lock().unwrap().last(), Some(&Change::Setting("guest".into())));
        assert_eq!(
            follower.apply_new(rows(), now, apply).await.unwrap(),
            0,
            "each row once"
        );
    }
}
