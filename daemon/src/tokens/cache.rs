//! The verified-token cache: access tokens whose signature, issuer and claims have
//! been checked once, so that the next request with the same token skips the Ed25519
//! verification (two thirds of a verifying request's time).
//!
//! Keyed by the whole token string (a hit is full-string equality, never a prefix or
//! a truncated hash). Only tokens that verified are entered. A hit still checks `nbf`
//! and `exp` against the clock and that the signing key is still trusted; the caller
//! still checks revocation (deny-list, session, user) from the live view, so a cache
//! hit changes no answer. Bounded by entries, evicting the oldest entered (FIFO:
//! O(1), and tokens are short-lived anyway).

use crate::locks::{read, write};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};
use tessera_common::claims::AccessClaims;
use time::OffsetDateTime;

/// What is kept for a verified token.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    pub(super) claims: Arc<AccessClaims>,
    /// The key that signed it.
    pub(super) kid: Arc<str>,
    pub(super) nbf: OffsetDateTime,
    pub(super) exp: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Arc<str>, Verified>,
    /// Tokens in the order they were entered, oldest first.
    order: VecDeque<Arc<str>>,
}

/// A bounded map from verified token to its claims.
#[derive(Debug)]
pub(super) struct VerifiedCache {
    capacity: usize,
    entries: RwLock<Entries>,
}

impl VerifiedCache {
    /// A cache of at most `capacity` tokens; 0 turns it off.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: RwLock::new(Entries::default()),
        }
    }

    /// The entry for exactly `token`, if it is cached.
    pub(super) fn get(&self, token: &str) -> Option<Verified> {
        if self.capacity == 0 {
            return None;
        }
        read(&self.entries).map.get(token).cloned()
    }

    /// Enters a token that has just verified, evicting the oldest entry when full.
    pub(super) fn insert(&self, token: &str, verified: Verified) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = write(&self.entries);
        if entries.map.contains_key(token) {
            return;
        }
        while entries.map.len() >= self.capacity {
            let Some(oldest) = entries.order.pop_front() else { break };
            entries.map.remove(&oldest);
        }
        let key: Arc<str> = Arc::from(token);
        entries.order.push_back(Arc::clone(&key));
        entries.map.insert(key, verified);
    }

    /// Drops the entries of tokens signed by a key not in `trusted`.
    pub(super) fn retain_keys(&self, trusted: &HashSet<&str>) {
        let mut entries = write(&self.entries);
        let Entries { map, order } = &mut *entries;
        map.retain(|_, v| trusted.contains(&*v.kid));
        order.retain(|token| map.contains_key(token));
    }

    /// How many tokens are cached.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        read(&self.entries).map.len()
    }
}
