//! Group commit: makes acknowledged writes survive a power cut, sharing one sync
//! among every request that is waiting.
//!
//! sled 0.34.7's `flush()` ends in `sync_file_range`, which survives a process crash
//! but not a power loss, so after each flush the store's `db` file is also fsynced
//! through a second descriptor. One thread does the syncing: a waiter sends a reply
//! slot, the thread takes every slot queued so far, flushes and fsyncs once, and
//! answers them all. Writes made before a waiter queued are covered by that sync.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<(), String>>;

/// Handle to the sync thread.
#[derive(Debug)]
pub(super) struct GroupCommit {
    queue: Option<mpsc::Sender<Reply>>,
    thread: Option<std::thread::JoinHandle<()>>,
    healthy: Arc<AtomicBool>,
    syncs: Arc<AtomicU64>,
    seconds: Histogram,
}

impl GroupCommit {
    /// Starts the sync thread for `db`, whose data file is `db_file`.
    pub(super) fn start(db: sled::Db, db_file: File) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel::<Reply>();
        let healthy = Arc::new(AtomicBool::new(true));
        let syncs = Arc::new(AtomicU64::new(0));
        // 0.1 ms to about 3 s.
        let seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        let (flag, count, timing) = (Arc::clone(&healthy), Arc::clone(&syncs), seconds.clone());
        let thread = std::thread::Builder::new()
            .name("tessera-commit".into())
            .spawn(move || run(&db, &db_file, &rx, &flag, (&count, &timing)))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            healthy,
            syncs,
            seconds,
        })
    }

    /// Waits until every write made before this call is on stable storage. After a
    /// failed sync nothing more is acknowledged: writes made since may sit in sled's
    /// memory without reaching the disk, so every later commit fails too (and
    /// `/healthz` says 503) until a restart recovers what is durable.
    pub(super) async fn sync(&self) -> Result<(), String> {
        if !self.is_healthy() {
            return Err("the store stopped acknowledging writes after a failed sync; restart the daemon".into());
        }
        let (tx, rx) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(|| "commit thread stopped".to_owned())?;
        queue.send(tx).map_err(|_| "commit thread stopped".to_owned())?;
        rx.await.map_err(|_| "commit thread stopped".to_owned())?
    }

    /// How many flush + fsync rounds have run.
    pub(super) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// How long each flush + fsync round took, in seconds.
    pub(super) fn durations(&self) -> Histogram {
        self.seconds.clone()
    }

    /// False once a sync has failed or the sync thread has stopped; the store then no
    /// longer accepts writes safely.
    pub(super) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for GroupCommit {
    /// Stops the thread and waits for it, so its handle on the database is gone when
    /// the store is dropped (the data directory can be reopened at once).
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    db: &sled::Db,
    db_file: &File,
    rx: &mpsc::Receiver<Reply>,
    healthy: &AtomicBool,
    (syncs, seconds): (&AtomicU64, &Histogram),
) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        waiters.extend(rx.try_iter());
        let started = std::time::Instant::now();
        let outcome = db
            .flush()
            .map_err(|e| e.to_string())
            .and_then(|_| db_file.sync_data().map_err(|e| e.to_string()));
        seconds.observe(started.elapsed().as_secs_f64());
        syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "store sync failed; acknowledged writes are at risk");
            healthy.store(false, Ordering::Relaxed);
        }
        for waiter in waiters {
            // A waiter that gave up (request cancelled) is not an error.
            let _ = waiter.send(outcome.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn after_a_failed_sync_nothing_more_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        // fdatasync on /dev/null fails (EINVAL), as on a dying disk.
        let broken = File::open("/dev/null").unwrap();
        let commit = GroupCommit::start(db.clone(), broken).unwrap();
        assert!(commit.is_healthy());
        db.insert("k", "v").unwrap();
        assert!(commit.sync().await.is_err(), "the failed sync is reported");
        assert!(!commit.is_healthy());
        let again = commit.sync().await.unwrap_err();
        assert!(again.contains("restart"), "{again}");
    }

    #[tokio::test]
    async fn a_stopped_commit_thread_is_unhealthy_and_acknowledges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let file = File::open(dir.path().join("db")).unwrap();
        let mut commit = GroupCommit::start(db, file).unwrap();
        assert!(commit.is_healthy());
        // The thread ends (as after a panic) while the handle lives on.
        drop(commit.queue.take());
        while !commit.thread.as_ref().unwrap().is_finished() {
            std::thread::yield_now();
        }
        assert!(!commit.is_healthy(), "a dead sync thread must clear health");
        assert!(
            commit.sync().await.is_err(),
            "nothing is acknowledged without the sync thread"
        );
    }
}
