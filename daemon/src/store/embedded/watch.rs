//! Change capture for online backups: every write to the watched trees from the
//! moment [`Watch::start`] returns, reduced to each key's latest value.
//!
//! sled hands each subscriber every insert and removal in the order they happened to
//! a key, through a bounded channel: a writer waits while a subscriber's channel is
//! full, so a thread drains the channels into a map as fast as writes come, whatever
//! the backup's reader is doing. [`Watch::finish`] is called with writes paused; every
//! change made so far is then in a channel, and the thread empties them once more
//! before it stops.

use sled::{Event, IVec, Subscriber};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The latest value of each changed key, by tree name then key (`None`: removed).
pub(super) type Changes = BTreeMap<(IVec, IVec), Option<IVec>>;

/// How long the drain thread sleeps when every channel is empty.
const IDLE: Duration = Duration::from_millis(1);

/// A running change capture.
pub(super) struct Watch {
    stop: Arc<AtomicBool>,
    changes: Arc<Mutex<Changes>>,
    thread: JoinHandle<()>,
}

impl Watch {
    /// Subscribes to every key of each tree in `trees` (name and tree) and starts the
    /// thread that drains them.
    pub(super) fn start(trees: &[(IVec, sled::Tree)]) -> std::io::Result<Self> {
        let subscribers: Vec<(IVec, Subscriber)> = trees
            .iter()
            .map(|(name, tree)| (name.clone(), tree.watch_prefix([])))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(Mutex::new(Changes::new()));
        let thread = std::thread::Builder::new().name("tessera-backup-watch".into()).spawn({
            let (stop, changes) = (Arc::clone(&stop), Arc::clone(&changes));
            move || drain(subscribers, &stop, &changes)
        })?;
        Ok(Self { stop, changes, thread })
    }

    /// Stops the capture and returns what it saw. Call with writes paused, so that
    /// every change made before the call is included and none after it.
    pub(super) fn finish(self) -> Changes {
        self.stop.store(true, Ordering::SeqCst);
        // The thread only ends by returning; a panic there leaves what it recorded.
        let _ = self.thread.join();
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn drain(mut subscribers: Vec<(IVec, Subscriber)>, stop: &AtomicBool, changes: &Mutex<Changes>) {
    loop {
        // Read before the pass: when set, writes were already paused, so this pass
        // finds everything still queued.
        let stopping = stop.load(Ordering::SeqCst);
        let mut seen = false;
        for (name, subscriber) in &mut subscribers {
            while let Ok(event) = subscriber.next_timeout(Duration::ZERO) {
                seen = true;
                let mut map = changes.lock().unwrap_or_else(PoisonError::into_inner);
                match event {
                    Event::Insert { key, value } => map.insert((name.clone(), key), Some(value)),
                    Event::Remove { key } => map.insert((name.clone(), key), None),
                };
            }
        }
        if !seen {
            if stopping {
                return;
            }
            std::thread::sleep(IDLE);
        }
    }
}
