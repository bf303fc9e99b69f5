//! The store: everything persistent, behind one interface with two backends.
//!
//! [`Store`] is what the service talks to; it does not know which backend answers.
//! - [`embedded`]: sled in the data directory, the default (one daemon).
//! - [`postgres`]: a PostgreSQL (or CockroachDB) database shared by N daemons, with a
//!   change log each daemon polls so that its in-memory view follows the others'.
//!
//! Shared by both: the typed [`records`], what operations answer ([`outcomes`]) and
//! [`StoreError`]. Every mutation is acknowledged only after [`Store::commit`].

mod embedded;
mod error;
mod outcomes;
mod postgres;
pub mod transfer;

pub use crate::records::{
    ApiTokenRecord, AuditRecord, ClientRecord, CodeRecord, FactorsRecord, GrantRecord, KeyRecord, LinkKind, LinkRecord,
    MfaTokenRecord, RefreshRecord, RetiringSecret, SessionKind, SessionRecord, UserRecord,
};
pub use embedded::{BACKUP_FORMAT, BackupSummary, CACHE_BYTES, SledStore};
/// A store as schema version 1 wrote it, for the upgrade's tests.
#[cfg(test)]
pub(crate) use embedded::{v1_records, write_v1};
pub use error::StoreError;
pub use outcomes::{
    AUDIT_CAPACITY, Barred, CODE_KEPT, Change, CodeUse, EXPIRED_API_TOKEN_KEPT, FOR_GOOD, LinkUse, Purged, Revoked,
    Rotation, SessionStart, Unique,
};
pub use postgres::{PgStore, PostgresUrl};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The open store, whichever backend holds it. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub enum Store {
    /// sled in the data directory.
    Embedded(Arc<SledStore>),
    /// A PostgreSQL database shared with other daemons.
    Postgres(Arc<PgStore>),
}

/// Declares the operations every backend offers, each forwarded to the one in use.
macro_rules! operations {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Store::Embedded(s) => s.$name($($arg),*),
                        Store::Postgres(p) => p.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

operations! {
    /// Inserts a new user; [`StoreError::Taken`] if the username or email is used
    /// (compared lower-cased).
    fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// The user with `id`.
    fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;
    /// The user whose username, or email when `login` holds an `@`, matches `login`
    /// case-insensitively.
    fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, in id order.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// At most `limit` users in the order of their lower-cased usernames, those after
    /// the username `after` (compared lower-cased) and, with `prefix` (lower-cased),
    /// those whose username or email starts with it. Reads only what the page needs,
    /// plus the email matches of `prefix`.
    fn users_page(&self, after: Option<&str>, prefix: Option<&str>, limit: usize) -> Result<Vec<UserRecord>, StoreError>;
    /// How many users exist.
    fn user_count(&self) -> Result<u64, StoreError>;
    /// Deletes a user with their sessions, API tokens, links and consents, and bars
    /// them until their last access token has expired.
    fn delete_user(&self, user: &UserRecord, now: i64) -> Result<Barred, StoreError>;

    /// Stores a new session with what it starts with, if `user` is still stored
    /// exactly as given; false, storing nothing, when it changed or was deleted.
    fn create_session(&self, user: &UserRecord, session: &SessionRecord, start: SessionStart<'_>) -> Result<bool, StoreError>;
    /// When `user_id` last opened a session.
    fn last_login(&self, user_id: Uuid) -> Result<Option<i64>, StoreError>;
    /// The session with `id`.
    fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError>;
    /// Every session of `user_id` not revoked (those past their maximum age
    /// included, until the purge deletes them), oldest first.
    fn sessions_of(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError>;
    /// The ids of `user_id`'s sessions neither revoked nor past their maximum age at
    /// `now`, oldest first.
    fn open_sessions_of(&self, user_id: Uuid, now: i64) -> Result<Vec<Uuid>, StoreError>;
    /// At most `limit` live sessions at `now` in id order, those after `after` and,
    /// with `users`, only theirs. Reads from `after` on, or only those users' sessions.
    fn sessions_page(&self, after: Option<Uuid>, users: Option<&[Uuid]>, now: i64, limit: usize) -> Result<Vec<SessionRecord>, StoreError>;
    /// The ids of the users whose lower-cased username starts with `prefix`.
    fn user_ids_by_name_prefix(&self, prefix: &str) -> Result<Vec<Uuid>, StoreError>;
    /// The ids of the sessions whose tokens went to `client_id`, neither revoked nor
    /// past their maximum age at `now` (a scan: for a client's removal).
    fn open_sessions_of_client(&self, client_id: &str, now: i64) -> Result<Vec<Uuid>, StoreError>;
    /// Every session neither revoked nor past its maximum age at `now`.
    fn live_sessions(&self, now: i64) -> Result<Vec<SessionRecord>, StoreError>;
    /// How many stored sessions are not revoked.
    fn session_count(&self) -> Result<u64, StoreError>;
    /// How many refresh-token records are stored.
    fn refresh_token_count(&self) -> Result<u64, StoreError>;
    /// Marks a session revoked and records the revocation for as long as one of its
    /// access tokens can be unexpired; `None` if unknown or already revoked.
    fn revoke_session(&self, id: Uuid, now: i64) -> Result<Option<Revoked>, StoreError>;
    /// The refresh token stored under `digest`.
    fn refresh_token(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError>;
    /// Exchanges the refresh token `old` for `new` atomically: exactly one of two
    /// concurrent presentations rotates; the other is a reuse.
    fn rotate_refresh(&self, old: &[u8; 32], new: &[u8; 32], record: &RefreshRecord, now: i64) -> Result<Rotation, StoreError>;

    /// Raises the stored token horizon to `configured` seconds if lower; returns it.
    fn raise_token_horizon(&self, configured: i64) -> Result<i64, StoreError>;
    /// The revoked sessions and barred users still needed at `now`.
    fn revocations(&self, now: i64) -> Result<(Vec<Revoked>, Vec<Barred>), StoreError>;
    /// When the store was upgraded from a version without a revocation index, if it was.
    fn indexed_since(&self) -> Result<Option<i64>, StoreError>;
    /// Puts an access token's `jti` on the deny-list until `exp`.
    fn deny(&self, jti: &str, exp: i64) -> Result<(), StoreError>;
    /// The deny-list entries unexpired at `now`.
    fn deny_list(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// How many deny-list entries are stored.
    fn denied_count(&self) -> Result<u64, StoreError>;

    /// Stores a new API token under the digest of its secret.
    fn create_api_token(&self, token: &ApiTokenRecord, digest: &[u8; 32]) -> Result<(), StoreError>;
    /// The API token whose secret has `digest`.
    fn api_token(&self, digest: &[u8; 32]) -> Result<Option<ApiTokenRecord>, StoreError>;
    /// The API token with public id `id`.
    fn api_token_by_id(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError>;
    /// `user_id`'s API tokens.
    fn api_tokens_of(&self, user_id: Uuid) -> Result<Vec<ApiTokenRecord>, StoreError>;
    /// Every API token.
    fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError>;
    /// At most `limit` API tokens in id order, those after `after` and, with `user`,
    /// only theirs.
    fn api_tokens_page(&self, after: Option<&str>, users: Option<&[Uuid]>, limit: usize) -> Result<Vec<ApiTokenRecord>, StoreError>;
    /// How many API tokens are stored.
    fn api_token_count(&self) -> Result<u64, StoreError>;
    /// Deletes the API token with id `id`; returns it if it existed.
    fn delete_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError>;
    /// Records last-use times `(token id, time)` of tokens that still exist.
    fn touch_api_tokens(&self, uses: &[(String, i64)]) -> Result<(), StoreError>;

    /// Stores a new client; [`StoreError::Taken`] if its id is used.
    fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// The client `client_id`.
    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Every client.
    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// How many clients are registered.
    fn client_count(&self) -> Result<u64, StoreError>;
    /// Removes a client, remembering when; false if unknown.
    fn remove_client(&self, client_id: &str, now: i64) -> Result<bool, StoreError>;
    /// Replaces a confidential client's secret digest, the old one accepted until
    /// `old_until` when given; false if no such client has a secret.
    fn replace_client_secret(&self, client_id: &str, digest: &str, old_until: Option<i64>) -> Result<bool, StoreError>;
    /// When a client with this id was last removed, if ever.
    fn client_removed_at(&self, client_id: &str) -> Result<Option<i64>, StoreError>;

    /// The signing keys.
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Stores (adds or replaces) signing keys in one transaction.
    fn put_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError>;
    /// Deletes the signing key `kid`.
    fn remove_key(&self, kid: &str) -> Result<(), StoreError>;

    /// The stored value of setting `name`.
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Stores setting `name`.
    fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;
    /// The value of setting `name`, storing `value` first if it has none (of two
    /// daemons doing so at once, the first to store wins and both get its value).
    fn setting_or_init(&self, name: &str, value: &str) -> Result<String, StoreError>;

    /// Stores a new link token under `digest`.
    fn create_link(&self, digest: &[u8; 32], link: &LinkRecord) -> Result<(), StoreError>;
    /// The link stored under `digest`.
    fn link(&self, digest: &[u8; 32]) -> Result<Option<LinkRecord>, StoreError>;

    /// The live or ended session a browser cookie's digest names.
    fn browser_session(&self, cookie: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    /// Forgets a browser cookie.
    fn forget_browser_cookie(&self, cookie: &[u8; 32]) -> Result<(), StoreError>;

    /// Stores a new authorization code under `digest`.
    fn create_code(&self, digest: &[u8; 32], code: &CodeRecord) -> Result<(), StoreError>;
    /// Uses the code under `digest` at `now` for the session `session_id`.
    fn use_code(&self, digest: &[u8; 32], now: i64, session_id: Uuid) -> Result<CodeUse, StoreError>;

    /// Stores `user_id`'s consent to `client_id`.
    fn put_grant(&self, user_id: Uuid, client_id: &str, grant: &GrantRecord) -> Result<(), StoreError>;
    /// `user_id`'s consent to `client_id`.
    fn grant(&self, user_id: Uuid, client_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// `user_id`'s consents, by client id.
    fn grants_of(&self, user_id: Uuid) -> Result<Vec<(String, GrantRecord)>, StoreError>;
    /// Withdraws `user_id`'s consent to `client_id`; false if there was none.
    fn remove_grant(&self, user_id: Uuid, client_id: &str) -> Result<bool, StoreError>;
    /// Withdraws every consent to `client_id` (a removed client); returns how many.
    fn remove_grants_to(&self, client_id: &str) -> Result<u64, StoreError>;

    /// Appends an audit entry; returns its sequence number.
    fn append_audit(&self, record: &AuditRecord) -> Result<u64, StoreError>;
    /// Deletes audit entries older than `before`; returns how many.
    fn purge_audit(&self, before: i64) -> Result<usize, StoreError>;
    /// How many audit entries are kept.
    fn audit_count(&self) -> Result<u64, StoreError>;
    /// The newest `limit` audit entries, oldest first.
    fn audit_tail(&self, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError>;
    /// The newest `limit` audit entries older than the sequence number `before`,
    /// oldest first.
    fn audit_before(&self, before: u64, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError>;

    /// `user_id`'s second factors, if any.
    fn factors(&self, user_id: Uuid) -> Result<Option<FactorsRecord>, StoreError>;
    /// Stores (or replaces) `user_id`'s second factors.
    fn put_factors(&self, user_id: Uuid, factors: &FactorsRecord) -> Result<(), StoreError>;
    /// Removes every second factor and recovery code of `user_id`; false if none.
    fn remove_factors(&self, user_id: Uuid) -> Result<bool, StoreError>;
    /// Records that `user_id`'s TOTP code of `step` was accepted, unless a code of
    /// that step or a later one was (false): each step is used once, on any daemon.
    fn use_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError>;
    /// Uses `user_id`'s recovery code with `digest`; false if it is not an unused one.
    fn use_recovery_code(&self, user_id: Uuid, digest: &[u8; 32]) -> Result<bool, StoreError>;
    /// Stores a login waiting for its second factor.
    fn create_mfa_token(&self, digest: &[u8; 32], record: &MfaTokenRecord) -> Result<(), StoreError>;
    /// The waiting login under `digest`.
    fn mfa_token(&self, digest: &[u8; 32]) -> Result<Option<MfaTokenRecord>, StoreError>;
    /// Counts an attempt at the waiting login's code before the code is checked, so
    /// that parallel guesses cannot outrun the limit: the token as it is now, or
    /// `None` when it is unknown, expired or already had `limit` attempts.
    fn attempt_mfa_token(&self, digest: &[u8; 32], now: i64, limit: u32) -> Result<Option<MfaTokenRecord>, StoreError>;
    /// Confirms `user_id`'s pending TOTP whose secret is `secret` with a code of `step`
    /// (the step counts as used) and, when given, stores its first recovery codes;
    /// false when that secret is no longer pending or the step was used.
    fn confirm_totp(&self, user_id: Uuid, secret: &[u8], step: i64, recovery: Option<&[[u8; 32]]>) -> Result<bool, StoreError>;
    /// Replaces `user_id`'s recovery codes while an active factor exists; false if none.
    fn replace_recovery_codes(&self, user_id: Uuid, recovery: &[[u8; 32]]) -> Result<bool, StoreError>;
    /// Removes the token and returns it: of two uses at once, one gets it.
    fn take_mfa_token(&self, digest: &[u8; 32]) -> Result<Option<MfaTokenRecord>, StoreError>;
}

/// How long the embedded store's purge rests after a batch, in multiples of the time
/// the batch took (docs/decisions.md, "The purge's pace").
const REST_PER_WORK: u32 = 2;

impl Store {
    /// Opens (creating if needed) the embedded store in the data directory `dir`, with
    /// `cache_bytes` of page cache.
    pub fn open_embedded(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        Ok(Store::Embedded(Arc::new(SledStore::open_with_cache(dir, cache_bytes)?)))
    }

    /// Deletes what nothing can use any more (see [`Purged`]). On sled it is a scan of
    /// every stored session and token, so it runs on a thread of its own and rests
    /// after each batch [`REST_PER_WORK`] times as long as the batch took: at most a
    /// third of a core. (Not at a lower CPU priority: sled's reads and transactions
    /// take a store-wide lock, and a thread the scheduler starves while holding it
    /// would stall every write.)
    pub async fn purge_expired(&self, now: i64) -> Result<Purged, StoreError> {
        match self {
            Store::Embedded(s) => {
                let store = Arc::clone(s);
                let (done, result) = tokio::sync::oneshot::channel();
                std::thread::Builder::new()
                    .name("tessera-purge".into())
                    .spawn(move || {
                        let mut since = std::time::Instant::now();
                        let mut rest = || {
                            std::thread::sleep(since.elapsed() * REST_PER_WORK);
                            since = std::time::Instant::now();
                        };
                        let _ = done.send(store.purge_expired(now, &mut rest));
                    })
                    .map_err(|e| StoreError::Engine(format!("could not start the purge: {e}")))?;
                result
                    .await
                    .map_err(|_| StoreError::Engine("the purge stopped".into()))?
            }
            Store::Postgres(p) => p.purge_expired(now).await,
        }
    }

    /// Connects to the PostgreSQL database at `url` (retrying for up to `patience`)
    /// and brings its schema up to date.
    pub async fn open_postgres(url: &PostgresUrl, pool_size: usize, patience: Duration) -> Result<Self, StoreError> {
        Ok(Store::Postgres(Arc::new(
            PgStore::open(url, pool_size, patience).await?,
        )))
    }

    /// True when other daemons may share this store: their changes reach this one's
    /// in-memory view only through [`Store::recent_changes`].
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// The changes other daemons (and this one) logged recently, and those with an id
    /// in `also`, with their ids; none for a store no other daemon shares.
    pub async fn recent_changes(&self, also: &[i64]) -> Result<Vec<(i64, Change)>, StoreError> {
        match self {
            Store::Embedded(_) => Ok(Vec::new()),
            Store::Postgres(p) => p.recent_changes(also).await,
        }
    }

    /// Deletes change-log rows every daemon has had time to read.
    pub async fn purge_changes(&self) -> Result<u64, StoreError> {
        match self {
            Store::Embedded(_) => Ok(0),
            Store::Postgres(p) => p.purge_changes().await,
        }
    }

    /// Changes a user's record atomically: `change` sees the current record and returns
    /// false to leave it alone. Username and email must not change; a disabled user is
    /// barred, an enabled one admitted. The record as stored, or `None` if unknown.
    pub async fn modify_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut UserRecord) -> bool,
    ) -> Result<Option<UserRecord>, StoreError> {
        match self {
            Store::Embedded(s) => s.modify_user(id, change),
            Store::Postgres(p) => p.modify_user(id, change).await,
        }
    }

    /// Uses the link under `digest` if it is a live, unused `kind` link of an enabled
    /// user whose address is still the one it was sent to: applies `change` to the user,
    /// marks the link used and voids the user's other links of that kind, atomically.
    pub async fn use_link(
        &self,
        digest: &[u8; 32],
        kind: LinkKind,
        now: i64,
        change: impl Fn(&mut UserRecord),
    ) -> Result<LinkUse, StoreError> {
        match self {
            Store::Embedded(s) => s.use_link(digest, kind, now, change),
            Store::Postgres(p) => p.use_link(digest, kind, now, change).await,
        }
    }

    /// Waits until every write made so far is durable. Call before acknowledging.
    pub async fn commit(&self) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.commit().await,
            Store::Postgres(p) => p.commit().await,
        }
    }

    /// True while the store accepts writes.
    pub fn is_healthy(&self) -> bool {
        match self {
            Store::Embedded(s) => s.is_healthy(),
            Store::Postgres(p) => p.is_healthy(),
        }
    }

    /// The last compaction of the embedded store: when, bytes before, bytes after.
    pub fn compaction(&self) -> Result<Option<(i64, u64, u64)>, StoreError> {
        match self {
            Store::Embedded(s) => s.compaction(),
            Store::Postgres(_) => Ok(None),
        }
    }

    /// How many flush + fsync rounds have run since opening (embedded store only).
    pub fn syncs(&self) -> Option<u64> {
        match self {
            Store::Embedded(s) => Some(s.syncs()),
            Store::Postgres(_) => None,
        }
    }

    /// How long each flush + fsync round took, in seconds (embedded store only).
    pub fn sync_durations(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        match self {
            Store::Embedded(s) => Some(s.sync_durations()),
            Store::Postgres(_) => None,
        }
    }

    /// The size of the store on disk, in bytes, when the database can tell.
    pub async fn size_on_disk(&self) -> Result<Option<u64>, StoreError> {
        match self {
            Store::Embedded(s) => s.size_on_disk().map(Some),
            Store::Postgres(p) => p.size_on_disk().await,
        }
    }

    /// The embedded store, when that is the backend: backups, integrity checks and
    /// disk figures exist only there.
    pub fn embedded(&self) -> Option<&SledStore> {
        match self {
            Store::Embedded(s) => Some(s),
            Store::Postgres(_) => None,
        }
    }
}
