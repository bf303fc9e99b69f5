//! Login throttling (see docs/openapi.yaml and docs/decisions.md): failures counted per (account, address) and per
//! address, in memory. After the n-th failure with n ≥ limit, the key is blocked for
//! min(2^(n − limit) s, `max_delay`); the address-wide limit is ten times the pair's.
//! A counter is forgotten `window` after its last failure.

use crate::config::ThrottleConfig;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// Entries kept per map before expired ones are swept inline. After a sweep the next
/// one waits until the maps have doubled, so a flood of live entries costs amortized
/// constant time per failure rather than a full sweep each.
const SWEEP_THRESHOLD: usize = 100_000;

/// The address under which account-wide counters are kept (no client has it).
const ACCOUNT_WIDE: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last_failure: OffsetDateTime,
    blocked_until: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Counters {
    pairs: HashMap<(String, IpAddr), Counter>,
    addrs: HashMap<IpAddr, Counter>,
    /// Entries (both maps) past which the next failure sweeps; 0 means the default.
    sweep_at: usize,
}

impl Counters {
    fn len(&self) -> usize {
        self.pairs.len() + self.addrs.len()
    }
}

/// The throttle's in-memory state.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    counters: Mutex<Counters>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            counters: Mutex::new(Counters::default()),
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        crate::locks::lock(&self.counters)
    }

    /// `Err(retry_after)` when `account` from `addr` is blocked at `now`.
    pub fn check(&self, account: &str, addr: IpAddr, now: OffsetDateTime) -> Result<(), Duration> {
        let counters = self.counters();
        let blocked = [
            counters.pairs.get(&(account.to_owned(), addr)),
            counters.addrs.get(&addr),
        ]
        .into_iter()
        .flatten()
        .filter(|c| c.blocked_until > now)
        .map(|c| c.blocked_until - now)
        .max();
        match blocked {
            None => Ok(()),
            Some(left) => {
                let secs = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
                Err(Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1)))
            }
        }
    }

    /// Counts a failed attempt.
    pub fn record_failure(&self, account: &str, addr: IpAddr, now: OffsetDateTime) {
        let config = self.config;
        let mut counters = self.counters();
        let pair_limit = config.max_failures;
        bump(
            &mut counters.pairs,
            (account.to_owned(), addr),
            pair_limit,
            &config,
            now,
        );
        bump(&mut counters.addrs, addr, pair_limit.saturating_mul(10), &config, now);
        if counters.len() > counters.sweep_at.max(SWEEP_THRESHOLD) {
            sweep_locked(&mut counters, config.window, now);
            counters.sweep_at = counters.len().saturating_mul(2);
        }
    }

    /// `Err(retry_after)` when `key` is blocked from every address at `now`: a limit
    /// on an account as a whole (its second factor), whichever addresses guess.
    pub fn check_account(&self, key: &str, now: OffsetDateTime) -> Result<(), Duration> {
        self.check(key, ACCOUNT_WIDE, now)
    }

    /// Counts a failure against `key` from every address: twice the pair's limit, then
    /// the same doubling delay. No address-wide counter moves.
    pub fn record_account_failure(&self, key: &str, now: OffsetDateTime) {
        let config = self.config;
        let mut counters = self.counters();
        let limit = config.max_failures.saturating_mul(2);
        bump(&mut counters.pairs, (key.to_owned(), ACCOUNT_WIDE), limit, &config, now);
    }

    /// Clears the pair's counter after a successful login.
    pub fn record_success(&self, account: &str, addr: IpAddr) {
        self.counters().pairs.remove(&(account.to_owned(), addr));
    }

    /// Drops counters whose last failure is older than the window.
    pub fn sweep(&self, now: OffsetDateTime) {
        let window = self.config.window;
        sweep_locked(&mut self.counters(), window, now);
    }
}

fn bump<K: Hash + Eq>(map: &mut HashMap<K, Counter>, key: K, limit: u32, config: &ThrottleConfig, now: OffsetDateTime) {
    let fresh = Counter {
        failures: 0,
        last_failure: now,
        blocked_until: now,
    };
    let counter = map.entry(key).or_insert(fresh);
    if now - counter.last_failure > config.window {
        *counter = fresh;
    }
    counter.failures = counter.failures.saturating_add(1);
    counter.last_failure = now;
    if counter.failures >= limit {
        let exponent = (counter.failures - limit).min(40);
        let delay = Duration::from_secs(1u64 << exponent).min(config.max_delay);
        counter.blocked_until = now + delay;
    }
}

fn sweep_locked(counters: &mut Counters, window: Duration, now: OffsetDateTime) {
    let live = |c: &Counter| now - c.last_failure <= window || c.blocked_until > now;
    counters.pairs.retain(|_, c| live(c));
    counters.addrs.retain(|_, c| live(c));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(ThrottleConfig {
            max_failures: 5,
            window: Duration::from_secs(900),
            max_delay: Duration::from_secs(900),
        })
    }

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn sixth_attempt_after_five_failures_is_blocked_with_doubling_delay() {
        let th = throttle();
        for _ in 0..4 {
            th.record_failure("alice", A, t(0));
            assert_eq!(th.check("alice", A, t(0)), Ok(()));
        }
        th.record_failure("alice", A, t(0));
        assert_eq!(th.check("alice", A, t(0)), Err(Duration::from_secs(1)));
        assert_eq!(th.check("alice", A, t(1)), Ok(()));
        th.record_failure("alice", A, t(1));
        assert_eq!(th.check("alice", A, t(1)), Err(Duration::from_secs(2)));
        // Another address, and another account, are not affected.
        assert_eq!(th.check("alice", B, t(1)), Ok(()));
        assert_eq!(th.check("bob", A, t(1)), Ok(()));
    }

    #[test]
    fn delay_is_capped_and_success_clears_the_pair() {
        let th = throttle();
        for _ in 0..30 {
            th.record_failure("alice", A, t(0));
        }
        assert_eq!(th.check("alice", A, t(0)), Err(Duration::from_secs(900)));
        th.record_success("alice", A);
        assert_eq!(th.check("alice", A, t(0)), Ok(()));
    }

    #[test]
    fn address_wide_limit_is_ten_times_the_pair_limit() {
        let th = throttle();
        for i in 0..49 {
            th.record_failure(&format!("user{i}"), A, t(0));
        }
        assert_eq!(th.check("someone-else", A, t(0)), Ok(()));
        th.record_failure("user49", A, t(0));
        assert_eq!(th.check("someone-else", A, t(0)), Err(Duration::from_secs(1)));
        assert_eq!(th.check("someone-else", B, t(0)), Ok(()));
    }

    #[test]
    fn counters_expire_after_the_window() {
        let th = throttle();
        for _ in 0..4 {
            th.record_failure("alice", A, t(0));
        }
        th.record_failure("alice", A, t(901));
        assert_eq!(th.check("alice", A, t(901)), Ok(()), "old failures were forgotten");
        th.sweep(t(2000));
        assert!(th.counters().pairs.is_empty() && th.counters().addrs.is_empty());
    }

    #[test]
    fn a_flood_of_live_entries_is_not_swept_on_every_failure() {
        let th = throttle();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..(SWEEP_THRESHOLD + 5_000) {
            th.record_failure(&format!("unknown:{i:016x}"), addr, now);
        }
        let counters = th.counters();
        // One sweep ran at the threshold (nothing had expired) and moved the next one
        // to twice the size, so the failures after it swept nothing.
        assert!(counters.sweep_at > SWEEP_THRESHOLD, "{}", counters.sweep_at);
        assert!(counters.len() < counters.sweep_at);
    }

    #[test]
    fn account_wide_counters_block_every_address_and_no_address_wide_one_moves() {
        let th = throttle();
        for _ in 0..9 {
            th.record_account_failure("second-factor:u1", t(0));
        }
        assert!(
            th.check_account("second-factor:u1", t(0)).is_ok(),
            "twice the pair limit"
        );
        th.record_account_failure("second-factor:u1", t(0));
        assert_eq!(th.check_account("second-factor:u1", t(0)), Err(Duration::from_secs(1)));
        assert!(th.check_account("second-factor:u2", t(0)).is_ok(), "another account");
        assert!(
            th.check("u1", A, t(0)).is_ok(),
            "the pair and the address are untouched"
        );
        assert!(th.check("u9", ACCOUNT_WIDE, t(0)).is_ok());
    }
}
