//! Following the other daemons on a shared store. Each daemon keeps in memory what
//! token checks consult (the revocation view, guest and registration modes, the signing
//! keys, remembered client credentials); on a shared store another daemon's change
//! reaches that memory through the store's change log, read every [`POLL_EVERY`].
//! A poll re-reads the log's recent window and applies only the rows it has not seen.
//!
//! Ids are handed out when a row is written but become visible at commit, so a row
//! can appear after rows with higher ids, and after it has left the window (a commit
//! that stalled). The follower therefore notes each gap in the ids below the highest
//! it has seen and asks for those ids by name at every poll, until the row arrives or
//! [`GAP_PATIENCE`] has passed (the id then belonged to a transaction that rolled back).
//!
//! When no poll has succeeded for `[storage.postgres] max_staleness`, this daemon can
//! no longer know whether a token was revoked elsewhere: it refuses the tokens it
//! checks from memory (503, fail closed) until a poll succeeds again.

use super::{Service, ServiceError, operator};
use crate::locks::lock;
use crate::store::Change;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the change log is read.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// How long an applied row is remembered: longer than it stays in the read window.
const REMEMBERED: Duration = Duration::from_secs(30);
/// How long a gap in the ids is asked for: far longer than a transaction can live
/// (each attempt is cut off after seconds), shorter than the log keeps its rows.
const GAP_PATIENCE: Duration = Duration::from_secs(300);
/// The widest jump in ids whose skipped ids are followed as gaps. PostgreSQL's
/// sequence hands out consecutive ids, so its gaps are a few transactions in flight or
/// rolled back; ids further apart (CockroachDB's are not consecutive) are left to the
/// time window.
const MAX_JUMP: i64 = 1_000;
/// The most gaps followed at once; past it the oldest are given up.
const MAX_GAPS: usize = 10_000;
/// Polls between two purges of old change-log rows.
const PURGE_EVERY_POLLS: u64 = 300;

/// What the follower knows: the rows applied, the gaps, and when a poll last succeeded.
#[derive(Debug)]
pub(super) struct Follower {
    log: Mutex<Followed>,
    synced: Mutex<Instant>,
    /// Set while the view is stale (logged once per outage).
    stale: AtomicBool,
}

/// The ids seen in the change log.
#[derive(Debug, Default)]
struct Followed {
    /// Applied rows, and when.
    applied: HashMap<i64, Instant>,
    /// The highest id read so far.
    highest: Option<i64>,
    /// Ids below `highest` not applied yet, and since when.
    gaps: BTreeMap<i64, Instant>,
}

impl Followed {
    /// Notes that the row `id` exists: ids skipped on the way up to it become gaps.
    fn read(&mut self, id: i64, now: Instant) {
        let highest = *self.highest.get_or_insert(id);
        if id <= highest {
            return;
        }
        if id - highest <= MAX_JUMP {
            for skipped in highest + 1..id {
                self.gaps.entry(skipped).or_insert(now);
            }
            while self.gaps.len() > MAX_GAPS {
                self.gaps.pop_first();
            }
        }
        self.highest = Some(id);
    }
}

impl Follower {
    /// The ids to ask for besides the recent window: the gaps.
    fn gaps(&self) -> Vec<i64> {
        lock(&self.log).gaps.keys().copied().collect()
    }

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
        {
            let mut log = lock(&self.log);
            log.applied.retain(|_, at| now.duration_since(*at) < REMEMBERED);
            log.gaps.retain(|_, since| now.duration_since(*since) < GAP_PATIENCE);
        }
        let (mut applied, mut failed) = (0, None);
        for (id, change) in logged {
            if lock(&self.log).applied.contains_key(&id) {
                continue;
            }
            let outcome = apply(change).await;
            let mut log = lock(&self.log);
            log.read(id, now);
            match outcome {
                Ok(()) => {
                    log.applied.insert(id, now);
                    log.gaps.remove(&id);
                    applied += 1;
                }
                Err(e) => {
                    tracing::debug!(row = id, error = %e, "could not apply a change-log row; trying again at the next poll");
                    log.gaps.entry(id).or_insert(now);
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
            log: Mutex::new(Followed::default()),
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
        let logged = self.store.recent_changes(&self.follower.gaps()).await?;
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
            Change::Keys => {
                let read = async || -> Result<_, ServiceError> { Ok(self.store.keys().await?) };
                self.tokens.reload(read).await?;
            }
            Change::ClientChanged(client_id) => self.checked_clients.forget(client_id),
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

    #[tokio::test]
    async fn a_gap_in_the_ids_is_asked_for_until_its_row_arrives_however_late() {
        let follower = Follower::default();
        let deny = |jti: &str| Change::Denied(jti.into(), 9);
        let apply = |_: Change| async { Ok(()) };
        let start = Instant::now();
        // Rows 11 and 12 are in flight when 10 and 13 are read.
        let read = vec![(10, deny("a")), (13, deny("d"))];
        assert_eq!(follower.apply_new(read, start, apply).await.unwrap(), 2);
        assert_eq!(follower.gaps(), [11, 12]);
        // Row 12 commits a minute later, long out of the time window: asked for by id.
        let later = start + Duration::from_secs(60);
        assert_eq!(
            follower.apply_new(vec![(12, deny("c"))], later, apply).await.unwrap(),
            1
        );
        assert_eq!(follower.gaps(), [11]);
        // 11 rolled back: given up after GAP_PATIENCE.
        follower
            .apply_new(Vec::new(), start + GAP_PATIENCE, apply)
            .await
            .unwrap();
        assert!(follower.gaps().is_empty());
    }

    #[tokio::test]
    async fn ids_far_apart_are_not_followed_as_gaps_and_a_failed_row_is_asked_for() {
        let follower = Follower::default();
        let now = Instant::now();
        let rows = vec![(1, Change::Keys), (1 + MAX_JUMP + 1, Change::Setting("guest".into()))];
        let fail_settings = |change: Change| async move {
            match change {
                Change::Setting(_) => Err(ServiceError::Internal("the settings read failed".into())),
                _ => Ok(()),
            }
        };
        assert!(follower.apply_new(rows, now, fail_settings).await.is_err());
        assert_eq!(follower.gaps(), [1 + MAX_JUMP + 1], "only the failed row");
    }
}
