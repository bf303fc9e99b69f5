//! The embedded store on sled, the default backend: the only code that knows sled.
//! Typed records ([`records`](crate::records)) encoded with postcard in named trees,
//! unique indexes kept in step by transactions, and durable commits.
//!
//! This file opens the store (data directory mode, sled's lock, the schema record in
//! the `meta` tree, and [`migrate`] for stores written by an older Tessera), holds the
//! codecs and the counters, and runs the purge. Each kind of record has its own file
//! naming its trees and index keys: [`users`], [`sessions`] (with refresh tokens and
//! each user's last login and open sessions), [`revocations`] (what can still end a token before it expires),
//! [`api_tokens`], [`clients`], [`keys`], [`links`] (link tokens sent by mail),
//! [`browser`] (browser sessions' cookies), [`codes`] (authorization codes),
//! [`grants`] (consents), [`factors`] (second factors and logins waiting for one),
//! [`settings`], [`audit`], [`denylist`];
//! [`backup`] writes and reads backup files of every tree (with [`watch`] capturing
//! the changes made while a running daemon's backup is written); [`check`] checks that the
//! indexes and counts agree with the records.
//!
//! Writes land in sled at once; callers then await [`SledStore::commit`] before they
//! acknowledge anything, which flushes and fsyncs (see [`commit`]).

mod api_tokens;
mod audit;
mod backup;
mod browser;
mod check;
mod clients;
mod codes;
mod commit;
mod denylist;
mod export;
mod factors;
mod grants;
mod keys;
mod links;
mod migrate;
mod revocations;
mod sessions;
mod settings;
mod snapshots;
mod users;
mod watch;

pub use backup::{BACKUP_FORMAT, BackupSummary};
/// A store as schema version 1 wrote it, for the upgrade's tests.
#[cfg(test)]
pub(crate) use migrate::tests::{v1_records, write_v1};

use super::StoreError;
use super::outcomes::{AUDIT_CAPACITY, CODE_KEPT, EXPIRED_API_TOKEN_KEPT};
use super::outcomes::{Barred, CodeUse, FOR_GOOD, LinkUse, Purged, Revoked, Rotation, SessionStart, Unique};
use crate::records::{
    ApiTokenRecord, AuditRecord, ClientRecord, CodeRecord, FactorsRecord, GrantRecord, KeyRecord, LinkKind, LinkRecord,
    MfaTokenRecord, RefreshRecord, RetiringSecret, SessionKind, SessionRecord, UserRecord,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Version of the on-disk layout written by this build.
pub const SCHEMA_VERSION: u32 = 9;
/// sled's page cache unless the configuration says otherwise (`storage.cache_mib`);
/// sled's own default (1 GiB) is far more than most auth stores need.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// Handle to the open store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    users: sled::Tree,
    users_by_name: sled::Tree,
    users_by_email: sled::Tree,
    sessions: sled::Tree,
    revoked: sled::Tree,
    barred: sled::Tree,
    meta: sled::Tree,
    refresh: sled::Tree,
    keys: sled::Tree,
    settings: sled::Tree,
    clients: sled::Tree,
    clients_removed: sled::Tree,
    api_tokens: sled::Tree,
    api_token_ids: sled::Tree,
    user_api_tokens: sled::Tree,
    denied: sled::Tree,
    links: sled::Tree,
    user_links: sled::Tree,
    browser_cookies: sled::Tree,
    codes: sled::Tree,
    grants: sled::Tree,
    factors: sled::Tree,
    mfa_tokens: sled::Tree,
    audit: sled::Tree,
    audit_next: AtomicU64,
    /// Seconds revocations are kept (see [`revocations`]); 0 until
    /// [`SledStore::raise_token_horizon`] sets it.
    horizon: AtomicI64,
    /// Held shared by every write and exclusively by a backup's closing moment (see
    /// [`SledStore::writing`]).
    gate: RwLock<()>,
    commit: commit::GroupCommit,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Engine(format!("encoding a record: {e}")))
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

/// A count kept in the `meta` tree, changed in the same transaction as the records it
/// counts, so reading it never scans them.
#[derive(Debug, Clone, Copy)]
enum Counter {
    /// Stored users.
    Users,
    /// Stored sessions not revoked (until the purge deletes them past their maximum age).
    Sessions,
    /// Stored refresh-token records (rotated ones included, until they expire).
    Refresh,
    /// Stored API tokens (a store written before this counter gets it at open).
    ApiTokens,
}

impl Counter {
    fn key(self) -> &'static str {
        match self {
            Counter::Users => "count.users",
            Counter::Sessions => "count.sessions",
            Counter::Refresh => "count.refresh",
            Counter::ApiTokens => "count.api_tokens",
        }
    }
}

/// Adds `delta` to `counter` within a transaction over the `meta` tree.
fn count(meta: &TransactionalTree, counter: Counter, delta: i64) -> Result<(), UnabortableTransactionError> {
    let current = meta
        .get(counter.key())?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, i64::from_be_bytes);
    meta.insert(counter.key(), &current.saturating_add(delta).max(0).to_be_bytes())?;
    Ok(())
}

/// The 8 bytes of a big-endian number stored in `tree`.
fn eight_bytes(tree: &'static str, what: &str, bytes: &[u8]) -> Result<[u8; 8], StoreError> {
    <[u8; 8]>::try_from(bytes).map_err(|_| StoreError::Corrupt {
        tree,
        detail: format!("{what} is not 8 bytes"),
    })
}

/// A malformed key in the index `tree`.
fn corrupt_index(tree: &'static str) -> StoreError {
    StoreError::Corrupt {
        tree,
        detail: "malformed key".into(),
    }
}

/// The `meta` key of the last compaction (see [`SledStore::note_compaction`]).
const COMPACTED: &str = "compacted";

/// Records the purge reads between two rests.
pub const PURGE_BATCH: usize = 512;

/// Calls `each` with every entry of `tree` in key order, reading [`PURGE_BATCH`]
/// entries at a time and calling `rest` between batches. Each batch starts after the
/// last key of the one before, so writes made during a rest are seen as any others.
fn walk_in_batches(
    tree: &sled::Tree,
    rest: &mut dyn FnMut(),
    mut each: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut after: Option<sled::IVec> = None;
    loop {
        let start = after.take().map_or(Bound::Unbounded, Bound::Excluded);
        let batch = tree
            .range::<sled::IVec, _>((start, Bound::Unbounded))
            .take(PURGE_BATCH)
            .collect::<Result<Vec<_>, _>>()?;
        for (key, value) in &batch {
            each(key, value)?;
        }
        if batch.len() < PURGE_BATCH {
            return Ok(());
        }
        after = batch.into_iter().next_back().map(|(key, _)| key);
        rest();
    }
}

/// Every record of `tree`, in key order.
fn decode_all<T: DeserializeOwned>(name: &'static str, tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
    tree.iter().values().map(|v| decode(name, &v?)).collect()
}

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

impl SledStore {
    /// Opens (creating if needed, mode 0700) the store in `dir`, with the default
    /// page cache.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, CACHE_BYTES)
    }

    /// Opens (creating if needed, mode 0700) the store in `dir`, with `cache_bytes` of
    /// page cache.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        create_private_dir(dir)?;
        let db_dir = dir.join("store");
        let existed = db_dir.join("db").exists();
        let db = open_sled(&db_dir, cache_bytes)?;
        sync_dir(dir)?;
        let db_file = std::fs::File::open(db_dir.join("db")).map_err(io("opening the store's db file"))?;
        let meta = db.open_tree("meta")?;
        let damaged = |problem: &str| StoreError::Damaged {
            dir: db_dir.display().to_string(),
            problem: problem.to_owned(),
        };
        match meta.get("schema_version")? {
            None if existed => return Err(damaged("no schema record")),
            None => {
                // A new store: the schema record is made durable before anything else,
                // so an existing store without one is never a new one.
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
                db_file.sync_all().map_err(io("syncing the store's db file"))?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| damaged("unreadable schema record"))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found,
                        known: SCHEMA_VERSION,
                    });
                }
                if found < SCHEMA_VERSION {
                    migrate::run(&db, found)?;
                    db.flush()?;
                    db_file.sync_all().map_err(io("syncing the store's db file"))?;
                }
            }
        }
        // Stores written before API tokens were counted: count them once.
        if meta.get(Counter::ApiTokens.key())?.is_none() {
            let tokens = i64::try_from(db.open_tree("api_token_ids")?.len()).unwrap_or(i64::MAX);
            meta.insert(Counter::ApiTokens.key(), &tokens.to_be_bytes())?;
            db.flush()?;
        }
        let audit = db.open_tree("audit")?;
        let audit_next = match audit.last()? {
            Some((k, _)) => <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes).unwrap_or(0) + 1,
            None => 0,
        };
        let store = Self {
            users: db.open_tree("users")?,
            users_by_name: db.open_tree("users_by_name")?,
            users_by_email: db.open_tree("users_by_email")?,
            sessions: db.open_tree("sessions")?,
            revoked: db.open_tree("revoked")?,
            barred: db.open_tree("barred")?,
            refresh: db.open_tree("refresh_tokens")?,
            keys: db.open_tree("keys")?,
            settings: db.open_tree("settings")?,
            clients: db.open_tree("clients")?,
            clients_removed: db.open_tree("clients_removed")?,
            api_tokens: db.open_tree("api_tokens")?,
            api_token_ids: db.open_tree("api_token_ids")?,
            user_api_tokens: db.open_tree("user_api_tokens")?,
            denied: db.open_tree("denied")?,
            links: db.open_tree("links")?,
            user_links: db.open_tree("user_links")?,
            browser_cookies: db.open_tree("browser_cookies")?,
            codes: db.open_tree("codes")?,
            grants: db.open_tree("grants")?,
            factors: db.open_tree("factors")?,
            mfa_tokens: db.open_tree("mfa_tokens")?,
            audit,
            audit_next: AtomicU64::new(audit_next),
            horizon: AtomicI64::new(0),
            gate: RwLock::new(()),
            meta,
            commit: commit::GroupCommit::start(commit::SledLog {
                db: db.clone(),
                file: db_file,
            })
            .map_err(io("starting the commit thread"))?,
            db,
        };
        Ok(store)
    }

    /// Held while writing to sled: a backup's closing moment ([`SledStore::pause_writes`])
    /// then never falls inside a transaction or a purge step. Taken once per write,
    /// never while already held (a writer waiting on the pause would deadlock it).
    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the writes in progress to end and holds off new ones while the
    /// guard lives.
    fn pause_writes(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until every write made so far is on stable storage (flush + fsync, shared
    /// with concurrent callers). Call before acknowledging a mutation.
    pub async fn commit(&self) -> Result<(), StoreError> {
        self.commit.sync().await.map_err(StoreError::Engine)
    }

    /// How many flush + fsync rounds have run since opening; far fewer than commits
    /// under concurrency, since waiters share a round.
    pub fn syncs(&self) -> u64 {
        self.commit.syncs()
    }

    /// The value of `counter`.
    fn counter(&self, counter: Counter) -> Result<u64, StoreError> {
        Ok(match self.meta.get(counter.key())? {
            Some(v) => u64::try_from(i64::from_be_bytes(eight_bytes("meta", counter.key(), &v)?)).unwrap_or(0),
            None => 0,
        })
    }

    /// How long each flush + fsync round took, in seconds (the metrics' histogram).
    pub fn sync_durations(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.commit.durations()
    }

    /// The size of the store's files on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Remembers that `tesserad compact` wrote this store (Unix seconds `at`, the old
    /// store's bytes and this one's), durably.
    pub fn note_compaction(&self, at: i64, before: u64, after: u64) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(24);
        for n in [at.to_be_bytes(), before.to_be_bytes(), after.to_be_bytes()] {
            value.extend_from_slice(&n);
        }
        self.meta.insert(COMPACTED, value)?;
        self.db.flush()?;
        Ok(())
    }

    /// What [`SledStore::note_compaction`] remembered: when, bytes before, bytes after.
    pub fn compaction(&self) -> Result<Option<(i64, u64, u64)>, StoreError> {
        let Some(value) = self.meta.get(COMPACTED)? else {
            return Ok(None);
        };
        let number = |i: usize| eight_bytes("meta", COMPACTED, value.get(i * 8..i * 8 + 8).unwrap_or_default());
        Ok(Some((
            i64::from_be_bytes(number(0)?),
            u64::from_be_bytes(number(1)?),
            u64::from_be_bytes(number(2)?),
        )))
    }

    /// True while the store accepts writes.
    pub fn is_healthy(&self) -> bool {
        let _writing = self.writing();
        self.commit.is_healthy() && self.db.insert("healthz", &[]).is_ok()
    }

    /// Deletes what nothing can use any more: refresh tokens past their expiry,
    /// sessions past their maximum age, API tokens expired for
    /// [`EXPIRED_API_TOKEN_KEPT`], deny-list and revocation entries whose tokens have
    /// all expired, and expired link tokens. The big trees (sessions, refresh and API
    /// tokens) are read [`PURGE_BATCH`] records at a time, calling `rest` between
    /// batches, so that the caller can pace the purge.
    pub fn purge_expired(&self, now: i64, rest: &mut dyn FnMut()) -> Result<Purged, StoreError> {
        Ok(Purged {
            refresh_tokens: self.purge_refresh_tokens(now, rest)?,
            sessions: self.purge_sessions(now, rest)?,
            api_tokens: self.purge_api_tokens(now, rest)?,
            denied: self.purge_denied(now)?,
            revocations: self.purge_revocations(now)?,
            links: self.purge_links(now)?,
            codes: self.purge_codes(now)?,
            browser_cookies: self.purge_browser_cookies(now)?,
            mfa_tokens: self.purge_mfa_tokens(now)?,
        })
    }
}

/// How long to wait for sled's file lock held by a handle that is just closing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled, waiting briefly for the file lock: sled releases it on background
/// threads just after its last handle drops (a store reopened at once, in this
/// process or right after another one exited). A lock still held after that means
/// another live process owns the store. Before each attempt, a snapshot file that a
/// killed process left unfinished is removed ([`snapshots`]): sled would refuse the
/// store for it.
///
/// sled writes its `conf` file (the storage parameters) and the `blobs` folder when
/// it creates a store, and never fsyncs them; they are fsynced here, with the folder
/// that names them, so a power cut right after creation cannot leave an empty `conf`.
fn open_sled(db_dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let db = lock_and_open_sled(db_dir, cache_bytes)?;
    let conf = db_dir.join("conf");
    std::fs::File::open(&conf)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", conf.display())))?;
    let blobs = db_dir.join("blobs");
    if blobs.is_dir() {
        sync_dir(&blobs)?;
    }
    sync_dir(db_dir)?;
    Ok(db)
}

fn lock_and_open_sled(db_dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let start = std::time::Instant::now();
    loop {
        // Only while no other handle has the store (sled would refuse it anyway).
        if snapshots::remove_unfinished(db_dir)? {
            match sled::Config::new().path(db_dir).cache_capacity(cache_bytes).open() {
                // sled reports it as an I/O error naming the lock.
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {}
                other => return Ok(other?),
            }
        }
        if start.elapsed() >= LOCK_WAIT {
            return Err(StoreError::Locked {
                dir: db_dir.display().to_string(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Creates the data directory mode 0700, or makes an existing one 0700: it holds the
/// signing key's secret, whoever made the directory.
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        let mode = std::fs::metadata(dir)
            .map_err(io(format!("reading {}", dir.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "data directory was open to others; made 0700");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(format!("setting mode 0700 on {}", dir.display())))?;
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating data directory {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("setting mode 0700 on {}", dir.display())))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsyncs a directory so that files created in it survive a power cut.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing directory {}", dir.display())))
}

#[cfg(test)]
mod tests;
