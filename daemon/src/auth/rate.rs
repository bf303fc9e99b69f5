//! Rate limits: at most `max` events per key within any `window` (the event times are
//! kept, oldest first), in memory. Mail messages per (kind, address) and `exists`
//! lookups per client address use it.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// Keys kept before idle ones are swept inline, so a flood of distinct keys stays
/// bounded between the periodic sweeps.
const SWEEP_THRESHOLD: usize = 100_000;

/// A sliding-window limit per key.
#[derive(Debug)]
pub struct RateLimit<K> {
    max: usize,
    window: i64,
    events: Mutex<HashMap<K, VecDeque<i64>>>,
}

impl<K: Hash + Eq> RateLimit<K> {
    /// At most `max` events per key in any `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX).max(1),
            window: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
            events: Mutex::new(HashMap::new()),
        }
    }

    /// Records an event for `key` at `now` (Unix seconds) if the limit allows it;
    /// otherwise returns how long until it would.
    pub fn admit(&self, key: K, now: i64) -> Result<(), Duration> {
        let mut events = crate::locks::lock(&self.events);
        if events.len() >= SWEEP_THRESHOLD {
            self.forget_idle(&mut events, now);
        }
        let times = events.entry(key).or_default();
        while times.front().is_some_and(|&t| t <= now - self.window) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = (oldest + self.window - now).max(1);
            return Err(Duration::from_secs(u64::try_from(wait).unwrap_or(1)));
        }
        times.push_back(now);
        Ok(())
    }

    /// Forgets keys with no event inside the window.
    pub fn sweep(&self, now: i64) {
        let mut events = crate::locks::lock(&self.events);
        self.forget_idle(&mut events, now);
    }

    fn forget_idle(&self, events: &mut HashMap<K, VecDeque<i64>>, now: i64) {
        events.retain(|_, times| times.back().is_some_and(|&t| t > now - self.window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_per_window_per_key() {
        let limit = RateLimit::new(2, Duration::from_secs(60));
        assert!(limit.admit("a", 0).is_ok());
        assert!(limit.admit("a", 10).is_ok());
        assert_eq!(limit.admit("a", 20), Err(Duration::from_secs(40)));
        assert!(limit.admit("b", 20).is_ok(), "keys are apart");
        assert!(limit.admit("a", 60).is_ok(), "the first event left the window");
        limit.sweep(200);
        assert!(crate::locks::lock(&limit.events).is_empty());
    }
}
