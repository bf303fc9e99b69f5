//! The Overview's charts: per-second samples of the daemon's activity, kept for the
//! last ten minutes. Counters become rates (the change since the previous poll);
//! gauges are kept as read.

use std::collections::VecDeque;
use tessera_common::admin::Activity;

/// Samples kept: one per poll, polled once a second.
pub const CAPACITY: usize = 600;

/// What the Overview charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Successful logins and registrations per second.
    LoginsOk,
    /// Failed logins per second.
    LoginsFailed,
    /// Access tokens signed per second.
    Issued,
    /// Refresh-token rotations per second.
    Refreshes,
    /// Replayed refresh tokens per second.
    Reuse,
    /// Sessions ended early per second.
    Revocations,
    /// Live sessions (a gauge).
    Sessions,
    /// Password hashes running or waiting (a gauge).
    HashQueue,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 8] = [
        Metric::LoginsOk,
        Metric::LoginsFailed,
        Metric::Issued,
        Metric::Refreshes,
        Metric::Reuse,
        Metric::Revocations,
        Metric::Sessions,
        Metric::HashQueue,
    ];

    /// Row label.
    pub fn label(self) -> &'static str {
        match self {
            Metric::LoginsOk => "logins ok/s",
            Metric::LoginsFailed => "logins failed/s",
            Metric::Issued => "tokens issued/s",
            Metric::Refreshes => "refreshes/s",
            Metric::Reuse => "reuse detected/s",
            Metric::Revocations => "revocations/s",
            Metric::Sessions => "live sessions",
            Metric::HashQueue => "argon2 queue",
        }
    }

    /// True for gauges, false for rates.
    pub fn is_gauge(self) -> bool {
        matches!(self, Metric::Sessions | Metric::HashQueue)
    }

    /// The running total (for rates) or the reading (for gauges) in `a`.
    fn read(self, a: &Activity) -> u64 {
        let c = &a.counters;
        match self {
            Metric::LoginsOk => c.logins,
            Metric::LoginsFailed => c.failures,
            Metric::Issued => c.issued,
            Metric::Refreshes => c.refreshes,
            Metric::Reuse => c.reuse_detected,
            Metric::Revocations => c.revocations,
            Metric::Sessions => a.sessions,
            Metric::HashQueue => a.hash_queue,
        }
    }
}

/// Recent samples, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    last: Option<Activity>,
    samples: VecDeque<[u64; Metric::ALL.len()]>,
}

impl History {
    /// Adds a poll's reading. The first reading after a (re)connection, or one from a
    /// daemon that restarted (counters went back), only sets the baseline for rates.
    pub fn push(&mut self, now: Activity) {
        let restarted = self.last.is_none_or(|before| {
            now.uptime_seconds < before.uptime_seconds
                || Metric::ALL
                    .iter()
                    .any(|m| !m.is_gauge() && m.read(&now) < m.read(&before))
        });
        let mut sample = [0u64; Metric::ALL.len()];
        for (slot, metric) in sample.iter_mut().zip(Metric::ALL) {
            *slot = match (metric.is_gauge(), self.last) {
                (true, _) => metric.read(&now),
                (false, Some(before)) if !restarted => metric.read(&now) - metric.read(&before),
                (false, _) => 0,
            };
        }
        if self.samples.len() == CAPACITY {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.last = Some(now);
    }

    /// Forgets the baseline (the connection was lost), keeping the samples.
    pub fn rebase(&mut self) {
        self.last = None;
    }

    /// The last reading, if any.
    pub fn latest(&self) -> Option<&Activity> {
        self.last.as_ref()
    }

    /// The newest `n` samples of `metric`, oldest first.
    pub fn series(&self, metric: Metric, n: usize) -> Vec<u64> {
        let i = Metric::ALL.iter().position(|m| *m == metric).unwrap_or(0);
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).map(|s| s[i]).collect()
    }

    /// The newest sample of `metric` (0 before the first).
    pub fn now(&self, metric: Metric) -> u64 {
        self.series(metric, 1).first().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_common::admin::Counters;

    fn reading(uptime: u64, logins: u64, sessions: u64) -> Activity {
        Activity {
            uptime_seconds: uptime,
            sessions,
            hash_queue: 0,
            counters: Counters {
                logins,
                ..Counters::default()
            },
        }
    }

    #[test]
    fn counters_become_rates_and_gauges_stay() {
        let mut h = History::default();
        h.push(reading(10, 100, 5));
        h.push(reading(11, 103, 6));
        h.push(reading(12, 110, 6));
        assert_eq!(h.series(Metric::LoginsOk, 10), [0, 3, 7]);
        assert_eq!(h.series(Metric::Sessions, 2), [6, 6]);
        assert_eq!(h.now(Metric::LoginsOk), 7);
    }

    #[test]
    fn a_restarted_daemon_sets_a_new_baseline() {
        let mut h = History::default();
        h.push(reading(100, 500, 1));
        h.push(reading(2, 4, 0));
        h.push(reading(3, 6, 0));
        assert_eq!(h.series(Metric::LoginsOk, 3), [0, 0, 2]);
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::default();
        for i in 0..CAPACITY as u64 + 10 {
            h.push(reading(i, i, 0));
        }
        assert_eq!(h.series(Metric::LoginsOk, usize::MAX).len(), CAPACITY);
    }
}
