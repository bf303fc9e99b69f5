//! The live view: sessions that are neither revoked nor past their maximum age (by id,
//! and by user), users who may hold none, and denied access-token ids, mirrored from
//! the store so that checking a session token reads nothing from it.

use crate::locks::{read, write};
use crate::store::{SessionRecord, Store, StoreError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::RwLock;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
struct LiveSession {
    user_id: Uuid,
    expires_at: i64,
}

/// Sessions that are neither revoked nor past their maximum age, and users who may
/// hold none (disabled or deleted), mirrored from the store so that checking a session
/// token reads nothing from it. Writers change the store first, then this view, and only then answer.
#[derive(Debug, Default)]
pub struct LiveSessions {
    map: RwLock<Live>,
    /// Disabled or deleted users: their tokens fail even if a session slipped in
    /// concurrently with the change.
    barred: RwLock<HashSet<Uuid>>,
    /// Revoked access tokens: jti → expiry.
    denied: RwLock<HashMap<String, i64>>,
}

/// The live sessions, by id and by user.
#[derive(Debug, Default)]
struct Live {
    sessions: HashMap<Uuid, LiveSession>,
    /// Each user's live session ids, in id order: ids are UUID v7, so oldest first.
    by_user: HashMap<Uuid, BTreeSet<Uuid>>,
}

impl Live {
    fn insert(&mut self, id: Uuid, session: LiveSession) {
        self.by_user.entry(session.user_id).or_default().insert(id);
        self.sessions.insert(id, session);
    }

    fn remove(&mut self, id: Uuid) {
        if let Some(session) = self.sessions.remove(&id)
            && let Some(ids) = self.by_user.get_mut(&session.user_id)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_user.remove(&session.user_id);
            }
        }
    }
}

impl LiveSessions {
    /// Loads every live session and every disabled user from the store.
    pub fn load(store: &Store, now: i64) -> Result<Self, StoreError> {
        let users = store.users()?;
        let existing: HashSet<Uuid> = users.iter().map(|u| u.id).collect();
        let mut map = Live::default();
        for s in store.live_sessions(now)? {
            // A session of a deleted user (left by a crash mid-delete) is not live.
            if existing.contains(&s.user_id) {
                let live = LiveSession {
                    user_id: s.user_id,
                    expires_at: s.expires_at,
                };
                map.insert(s.id, live);
            }
        }
        let barred = users.into_iter().filter(|u| u.disabled).map(|u| u.id).collect();
        let denied = store.deny_list(now)?.into_iter().collect();
        Ok(Self {
            map: RwLock::new(map),
            barred: RwLock::new(barred),
            denied: RwLock::new(denied),
        })
    }

    pub(super) fn insert(&self, session: &SessionRecord) {
        let live = LiveSession {
            user_id: session.user_id,
            expires_at: session.expires_at,
        };
        write(&self.map).insert(session.id, live);
    }

    pub(super) fn remove(&self, id: Uuid) {
        write(&self.map).remove(id);
    }

    /// Forgets every session of `user_id`.
    pub(super) fn remove_user(&self, user_id: Uuid) {
        let mut live = write(&self.map);
        for id in live.by_user.remove(&user_id).unwrap_or_default() {
            live.sessions.remove(&id);
        }
    }

    /// The oldest of `user_id`'s sessions live at `now` beyond the newest `keep`.
    pub(super) fn oldest_beyond(&self, user_id: Uuid, keep: usize, now: i64) -> Vec<Uuid> {
        let live = read(&self.map);
        let Some(ids) = live.by_user.get(&user_id) else {
            return Vec::new();
        };
        let alive: Vec<Uuid> = ids
            .iter()
            .filter(|id| live.sessions.get(id).is_some_and(|s| now < s.expires_at))
            .copied()
            .collect();
        alive[..alive.len().saturating_sub(keep)].to_vec()
    }

    /// Bars (`true`) or admits (`false`) a user.
    pub(super) fn bar(&self, user_id: Uuid, barred: bool) {
        if barred {
            write(&self.barred).insert(user_id);
        } else {
            write(&self.barred).remove(&user_id);
        }
    }

    /// True when `session_id` is live at `now` and belongs to `user_id`, who is not barred.
    pub fn is_live(&self, session_id: Uuid, user_id: Uuid, now: i64) -> bool {
        let live = read(&self.map)
            .sessions
            .get(&session_id)
            .is_some_and(|s| s.user_id == user_id && now < s.expires_at);
        live && !read(&self.barred).contains(&user_id)
    }

    /// Puts a revoked access token's jti on the deny-list until `exp`.
    pub(super) fn deny(&self, jti: &str, exp: i64) {
        write(&self.denied).insert(jti.to_owned(), exp);
    }

    /// True when the access token with `jti` was revoked.
    pub fn is_denied(&self, jti: &str) -> bool {
        read(&self.denied).contains_key(jti)
    }

    /// True when `user_id` is disabled or deleted.
    pub fn is_barred(&self, user_id: Uuid) -> bool {
        read(&self.barred).contains(&user_id)
    }

    /// How many sessions are live at `now`.
    pub fn count(&self, now: i64) -> usize {
        read(&self.map).sessions.values().filter(|s| now < s.expires_at).count()
    }

    /// Ids of the live sessions at `now`.
    pub fn ids(&self, now: i64) -> Vec<Uuid> {
        read(&self.map)
            .sessions
            .iter()
            .filter(|(_, s)| now < s.expires_at)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Drops sessions past their maximum age and deny-list entries past their expiry.
    pub fn sweep(&self, now: i64) {
        {
            let mut live = write(&self.map);
            let ended: Vec<Uuid> = live
                .sessions
                .iter()
                .filter(|(_, s)| now >= s.expires_at)
                .map(|(id, _)| *id)
                .collect();
            for id in ended {
                live.remove(id);
            }
        }
        write(&self.denied).retain(|_, exp| now < *exp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user_id: Uuid, expires_at: i64) -> SessionRecord {
        SessionRecord {
            id: Uuid::now_v7(),
            user_id,
            scopes: Vec::new(),
            created_at: 0,
            expires_at,
            revoked_at: None,
        }
    }

    #[test]
    fn the_per_user_index_follows_every_change() {
        let live = LiveSessions::default();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let a: Vec<SessionRecord> = (0..5).map(|_| session(alice, 100)).collect();
        for s in &a {
            live.insert(s);
        }
        let b = session(bob, 50);
        live.insert(&b);
        assert_eq!(live.oldest_beyond(alice, 3, 0), vec![a[0].id, a[1].id], "oldest first");
        assert!(live.oldest_beyond(alice, 5, 0).is_empty());
        live.remove(a[0].id);
        assert_eq!(live.oldest_beyond(alice, 3, 0), vec![a[1].id]);
        assert_eq!(live.oldest_beyond(bob, 0, 49), vec![b.id]);
        assert!(live.oldest_beyond(bob, 0, 50).is_empty(), "ended sessions do not count");
        live.sweep(50);
        assert!(!live.is_live(b.id, bob, 0), "swept");
        assert!(!read(&live.map).by_user.contains_key(&bob), "and gone from the index");
        live.remove_user(alice);
        let map = read(&live.map);
        assert!(map.sessions.is_empty() && map.by_user.is_empty());
    }
}
