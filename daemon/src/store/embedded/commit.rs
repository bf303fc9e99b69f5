//! Group commit: makes acknowledged writes survive a power cut, sharing one sync
//! among every request that is waiting.
//!
//! sled 0.34.7's `flush()` ends in `sync_file_range`, which survives a process crash
//! but not a power loss, so after each flush the store's `db` file is also fsynced
//! through a second descriptor ([`SledLog`]). One thread does the syncing: a waiter
//! sends a reply slot after its writes, the thread takes every slot queued so far,
//! makes the store durable once, and answers exactly those slots. A slot queued while
//! a sync runs waits for the next one, which starts after its writes.

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<(), String>>;

/// What one commit round makes durable.
pub(super) trait Durable: Send + 'static {
    /// Returns once every write made before the call is on stable storage.
    fn make_durable(&self) -> Result<(), String>;
}

/// sled's log: `flush()` writes sled's buffers to the `db` file, then fsync makes the
/// file's data durable (sled's own flush stops at `sync_file_range`).
pub(super) struct SledLog {
    pub(super) db: sled::Db,
    pub(super) file: File,
}

impl Durable for SledLog {
    fn make_durable(&self) -> Result<(), String> {
        self.db.flush().map_err(|e| e.to_string())?;
        self.file.sync_data().map_err(|e| e.to_string())
    }
}

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
    /// Starts the sync thread for `target`.
    pub(super) fn start(target: impl Durable) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel::<Reply>();
        let healthy = Arc::new(AtomicBool::new(true));
        let syncs = Arc::new(AtomicU64::new(0));
        // 0.1 ms to about 3 s.
        let seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        let (flag, count, timing) = (Arc::clone(&healthy), Arc::clone(&syncs), seconds.clone());
        let thread = std::thread::Builder::new()
            .name("tessera-commit".into())
            .spawn(move || run(&target, &rx, &flag, (&count, &timing)))?;
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
    target: &impl Durable,
    rx: &mpsc::Receiver<Reply>,
    healthy: &AtomicBool,
    (syncs, seconds): (&AtomicU64, &Histogram),
) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        waiters.extend(rx.try_iter());
        let started = std::time::Instant::now();
        let outcome = target.make_durable();
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
    use futures_util::FutureExt;
    use std::sync::Mutex;
    use tokio::sync::mpsc as async_mpsc;

    /// A store whose rounds the test holds open: each round reports how many writes
    /// had finished when it began (the writes it covers), then waits to be released.
    struct Gated {
        written: Arc<AtomicU64>,
        began: async_mpsc::UnboundedSender<u64>,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl Durable for Gated {
        fn make_durable(&self) -> Result<(), String> {
            let _ = self.began.send(self.written.load(Ordering::SeqCst));
            self.release.lock().unwrap().recv().map_err(|e| e.to_string())
        }
    }

    #[tokio::test]
    async fn a_waiter_queued_during_a_sync_is_answered_only_by_a_later_one() {
        let written = Arc::new(AtomicU64::new(0));
        let (began, mut rounds) = async_mpsc::unbounded_channel();
        let (release, gate) = mpsc::channel();
        let commit = GroupCommit::start(Gated {
            written: Arc::clone(&written),
            began,
            release: Mutex::new(gate),
        })
        .unwrap();
        // Dropped before `commit`: a failing assertion then unblocks the round it holds.
        let release = release;

        // Write 1, then wait: the round that answers it covers it.
        written.fetch_add(1, Ordering::SeqCst);
        let mut first = Box::pin(commit.sync());
        assert!((&mut first).now_or_never().is_none());
        assert_eq!(rounds.recv().await, Some(1), "round 1 covers write 1");

        // Write 2 lands while round 1 is syncing; its waiter queues then.
        written.fetch_add(1, Ordering::SeqCst);
        let mut second = Box::pin(commit.sync());
        assert!((&mut second).now_or_never().is_none());

        release.send(()).unwrap();
        first.await.unwrap();
        assert!(
            (&mut second).now_or_never().is_none(),
            "write 2 was made after round 1 began: round 1 must not answer it"
        );
        assert_eq!(rounds.recv().await, Some(2), "round 2 covers write 2");
        assert!(
            (&mut second).now_or_never().is_none(),
            "answered only once round 2 ends"
        );
        release.send(()).unwrap();
        second.await.unwrap();
        assert_eq!(commit.syncs(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_acknowledged_value_is_in_the_log_file_the_sync_covered() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let file = File::open(dir.path().join("db")).unwrap();
        let commit = Arc::new(GroupCommit::start(SledLog { db: db.clone(), file }).unwrap());
        let log = dir.path().join("db");
        let writers = (0..4u8).map(|w| {
            let (db, commit, log) = (db.clone(), Arc::clone(&commit), log.clone());
            tokio::spawn(async move {
                let tree = db.open_tree("t").unwrap();
                for i in 0..100u32 {
                    // A value found nowhere else: the writer, the round, a marker.
                    let mut value = vec![0xa5; 48];
                    value[..5].copy_from_slice(&[w, (i >> 16) as u8, (i >> 8) as u8, i as u8, 0x5a]);
                    tree.insert(format!("{w}-{i}"), value.clone()).unwrap();
                    commit.sync().await.unwrap();
                    let bytes = std::fs::read(&log).unwrap();
                    assert!(
                        bytes.windows(value.len()).any(|x| x == value.as_slice()),
                        "writer {w} write {i} was acknowledged before it reached the log file"
                    );
                }
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        assert!(commit.syncs() > 0);
    }

    #[tokio::test]
    async fn after_a_failed_sync_nothing_more_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        // fdatasync on /dev/null fails (EINVAL), as on a dying disk.
        let broken = File::open("/dev/null").unwrap();
        let commit = GroupCommit::start(SledLog {
            db: db.clone(),
            file: broken,
        })
        .unwrap();
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
        let mut commit = GroupCommit::start(SledLog { db, file }).unwrap();
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
