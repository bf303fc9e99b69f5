//! The store: the only code that knows sled. Typed records in named trees, the schema
//! version, unique indexes kept in step by transactions, and durable commits.
//!
//! Trees: `meta` (schema version), `users` (id → [`UserRecord`]), `users_by_name` and
//! `users_by_email` (lower-cased → id), `settings` (name → value set by an operator),
//! `sessions` (id → [`SessionRecord`]), `last_login` (user id → Unix seconds of the
//! newest session opened, big-endian i64),
//! `user_sessions` (user id ‖ session id, an index), `refresh` (SHA-256 of the secret →
//! [`RefreshRecord`]), `keys` (kid → [`KeyRecord`]), `clients` (id → [`ClientRecord`]), `audit` (sequence → [`AuditRecord`],
//! the newest [`AUDIT_CAPACITY`] kept).
//!
//! Writes land in sled at once; callers then await [`Store::commit`] before they
//! acknowledge anything, which flushes and fsyncs (see [`commit`]).

mod commit;
pub mod records;

pub use records::{ApiTokenRecord, AuditRecord, ClientRecord, KeyRecord, RefreshRecord, SessionRecord, UserRecord};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Version of the on-disk layout written by this build.
pub const SCHEMA_VERSION: u32 = 1;
/// How long an expired API token stays listed (so its owner sees why it stopped
/// working) before the purge deletes it: 30 days.
pub const EXPIRED_API_TOKEN_KEPT: i64 = 30 * 86_400;
/// How many audit entries are kept; older ones are dropped as new ones arrive.
pub const AUDIT_CAPACITY: u64 = 10_000;
/// sled's page cache; the default (1 GiB) is far more than an auth store needs.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt {
        /// The tree holding it.
        tree: &'static str,
        /// What failed.
        detail: String,
    },
    /// The store exists but its schema record is missing or unreadable: damaged, or
    /// not Tessera's. Starting empty would overwrite it.
    #[error(
        "the store in {dir} is damaged or not Tessera's ({problem}); refusing to start over it: restore it from a backup, or move it aside to start empty"
    )]
    Damaged {
        /// The store directory.
        dir: String,
        /// What is wrong.
        problem: String,
    },
    /// The data was written by a newer Tessera.
    #[error("data schema version {found} is newer than this build supports ({SCHEMA_VERSION})")]
    SchemaTooNew {
        /// Version found on disk.
        found: u32,
    },
    /// A unique index already holds the value.
    #[error("{0} already taken")]
    Taken(Unique),
}

/// What [`Store::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Sessions past their maximum age.
    pub sessions: usize,
    /// Refresh tokens past their expiry.
    pub refresh_tokens: usize,
    /// API tokens expired more than [`EXPIRED_API_TOKEN_KEPT`] ago.
    pub api_tokens: usize,
}

/// The unique indexes of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// `users_by_name`.
    Username,
    /// `users_by_email`.
    Email,
    /// `clients`.
    ClientId,
}

impl std::fmt::Display for Unique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unique::Username => "username",
            Unique::Email => "email",
            Unique::ClientId => "client id",
        })
    }
}

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

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now dead and the new one stored.
    Rotated,
    /// The token had already been exchanged: a replay. Nothing was written.
    Reused {
        /// The session the token belonged to.
        session_id: Uuid,
    },
    /// Unknown token, or its session is revoked. Nothing was written.
    Invalid,
}

/// Handle to the open store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    users_by_name: sled::Tree,
    users_by_email: sled::Tree,
    sessions: sled::Tree,
    user_sessions: sled::Tree,
    last_login: sled::Tree,
    refresh: sled::Tree,
    keys: sled::Tree,
    settings: sled::Tree,
    clients: sled::Tree,
    api_tokens: sled::Tree,
    api_token_ids: sled::Tree,
    user_api_tokens: sled::Tree,
    denied: sled::Tree,
    audit: sled::Tree,
    audit_next: AtomicU64,
    commit: commit::GroupCommit,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Engine(format!("encoding a record: {e}")))
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

/// Index key of an API token under its user.
fn user_token_key(user_id: Uuid, token_id: &str) -> Vec<u8> {
    let mut key = user_id.as_bytes().to_vec();
    key.extend_from_slice(token_id.as_bytes());
    key
}

/// The 8 bytes of a big-endian number stored in `tree`.
fn eight_bytes(tree: &'static str, what: &str, bytes: &[u8]) -> Result<[u8; 8], StoreError> {
    <[u8; 8]>::try_from(bytes).map_err(|_| StoreError::Corrupt {
        tree,
        detail: format!("{what} is not 8 bytes"),
    })
}

fn corrupt_index() -> StoreError {
    StoreError::Corrupt {
        tree: "user_sessions",
        detail: "malformed key".into(),
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

/// Index key of a session under its user.
fn user_session_key(user_id: Uuid, session_id: Uuid) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(user_id.as_bytes());
    key[16..].copy_from_slice(session_id.as_bytes());
    key
}

impl Store {
    /// Opens (creating if needed, mode 0700) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(dir)?;
        let db_dir = dir.join("store");
        let existed = db_dir.join("db").exists();
        let db = open_sled(&db_dir)?;
        sync_dir(dir)?;
        sync_dir(&db_dir)?;
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
                    return Err(StoreError::SchemaTooNew { found });
                }
            }
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
            user_sessions: db.open_tree("user_sessions")?,
            last_login: db.open_tree("last_login")?,
            refresh: db.open_tree("refresh")?,
            keys: db.open_tree("keys")?,
            settings: db.open_tree("settings")?,
            clients: db.open_tree("clients")?,
            api_tokens: db.open_tree("api_tokens")?,
            api_token_ids: db.open_tree("api_token_ids")?,
            user_api_tokens: db.open_tree("user_api_tokens")?,
            denied: db.open_tree("denied")?,
            audit,
            audit_next: AtomicU64::new(audit_next),
            commit: commit::GroupCommit::start(db.clone(), db_file).map_err(io("starting the commit thread"))?,
            db,
        };
        Ok(store)
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

    /// True while the store accepts writes.
    pub fn is_healthy(&self) -> bool {
        self.commit.is_healthy() && self.db.insert("healthz", &[]).is_ok()
    }

    // ----- users -----

    /// Inserts a new user, failing with [`StoreError::Taken`] if the username or email
    /// is already used (compared lower-cased).
    pub fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let value = encode(user)?;
        let name_key = user.username.to_lowercase();
        let email_key = user.email.to_lowercase();
        let id = user.id.as_bytes();
        (&self.users, &self.users_by_name, &self.users_by_email).transaction(|(users, by_name, by_email)| {
            if by_name.get(name_key.as_bytes())?.is_some() {
                return abort(StoreError::Taken(Unique::Username));
            }
            if by_email.get(email_key.as_bytes())?.is_some() {
                return abort(StoreError::Taken(Unique::Email));
            }
            by_name.insert(name_key.as_bytes(), id)?;
            by_email.insert(email_key.as_bytes(), id)?;
            users.insert(id, value.as_slice())?;
            Ok(())
        })?;
        Ok(())
    }

    /// The user with `id`.
    pub fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.users.get(id.as_bytes())?.map(|v| decode("users", &v)).transpose()
    }

    /// The user whose username, or email when `login` holds an `@`, matches `login`
    /// case-insensitively.
    pub fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let index = if login.contains('@') {
            &self.users_by_email
        } else {
            &self.users_by_name
        };
        let Some(id) = index.get(login.to_lowercase().as_bytes())? else {
            return Ok(None);
        };
        let id = Uuid::from_slice(&id).map_err(|e| StoreError::Corrupt {
            tree: "users index",
            detail: e.to_string(),
        })?;
        self.user(id)
    }

    /// Every user, in id order.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        decode_all("users", &self.users)
    }

    /// How many users exist.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Changes a user's record atomically: `change` sees the current record (so
    /// concurrent changes of other fields are not lost) and returns false to leave it
    /// alone. Username and email (the indexed fields) must not change. Returns the
    /// record as stored, or `None` if the user does not exist.
    pub fn modify_user(
        &self,
        id: Uuid,
        change: impl Fn(&mut UserRecord) -> bool,
    ) -> Result<Option<UserRecord>, StoreError> {
        let updated = self.users.transaction(|users| {
            let Some(value) = users.get(id.as_bytes())? else {
                return Ok(None);
            };
            let mut user: UserRecord = decode("users", &value).or_else(abort)?;
            if change(&mut user) {
                users.insert(id.as_bytes(), encode(&user).or_else(abort)?)?;
            }
            Ok(Some(user))
        })?;
        Ok(updated)
    }

    /// Deletes a user, their index entries and their sessions.
    pub fn delete_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let sessions: Vec<[u8; 32]> = self
            .user_sessions
            .scan_prefix(user.id.as_bytes())
            .keys()
            .map(|k| {
                k.map_err(StoreError::from)
                    .and_then(|k| <[u8; 32]>::try_from(k.as_ref()).map_err(|_| corrupt_index()))
            })
            .collect::<Result<_, _>>()?;
        let tokens = self.api_tokens_of(user.id)?;
        let token_digests: Vec<(String, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                Ok((
                    t.id.clone(),
                    self.api_token_ids
                        .get(t.id.as_bytes())?
                        .map(|d| d.to_vec())
                        .unwrap_or_default(),
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let name_key = user.username.to_lowercase();
        let email_key = user.email.to_lowercase();
        (
            &self.users,
            &self.users_by_name,
            &self.users_by_email,
            &self.sessions,
            &self.user_sessions,
            &self.api_tokens,
            &self.api_token_ids,
            &self.user_api_tokens,
            &self.last_login,
        )
            .transaction(
                |(users, by_name, by_email, all_sessions, index, api_tokens, api_ids, user_tokens, last_login)| {
                    users.remove(user.id.as_bytes())?;
                    last_login.remove(user.id.as_bytes())?;
                    by_name.remove(name_key.as_bytes())?;
                    by_email.remove(email_key.as_bytes())?;
                    for key in &sessions {
                        all_sessions.remove(&key[16..])?;
                        index.remove(key)?;
                    }
                    for (id, digest) in &token_digests {
                        api_tokens.remove(digest.as_slice())?;
                        api_ids.remove(id.as_bytes())?;
                        user_tokens.remove(user_token_key(user.id, id))?;
                    }
                    Ok(())
                },
            )?;
        // A login that checked the user before the transaction above may have added a
        // session after the listing; none can be added now that the user is gone.
        for key in self.user_sessions.scan_prefix(user.id.as_bytes()).keys() {
            let key = key?;
            self.sessions.remove(&key[16..])?;
            self.user_sessions.remove(key)?;
        }
        Ok(())
    }

    // ----- API tokens -----

    /// Stores a new API token under the digest of its secret.
    pub fn create_api_token(&self, token: &ApiTokenRecord, digest: &[u8; 32]) -> Result<(), StoreError> {
        let value = encode(token)?;
        let index_key = user_token_key(token.user_id, &token.id);
        (&self.api_tokens, &self.api_token_ids, &self.user_api_tokens).transaction(|(tokens, ids, by_user)| {
            tokens.insert(digest, value.as_slice())?;
            ids.insert(token.id.as_bytes(), digest)?;
            by_user.insert(index_key.as_slice(), &[])?;
            Ok(())
        })?;
        Ok(())
    }

    /// The API token whose secret has `digest`.
    pub fn api_token(&self, digest: &[u8; 32]) -> Result<Option<ApiTokenRecord>, StoreError> {
        self.api_tokens
            .get(digest)?
            .map(|v| decode("api_tokens", &v))
            .transpose()
    }

    /// The API token with public id `id`.
    pub fn api_token_by_id(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        match self.api_token_ids.get(id.as_bytes())? {
            Some(digest) => self
                .api_tokens
                .get(digest)?
                .map(|v| decode("api_tokens", &v))
                .transpose(),
            None => Ok(None),
        }
    }

    /// The API tokens of `user_id`.
    pub fn api_tokens_of(&self, user_id: Uuid) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.user_api_tokens.scan_prefix(user_id.as_bytes()).keys() {
            let key = key?;
            let id = String::from_utf8(key[16..].to_vec()).map_err(|_| corrupt_index())?;
            if let Some(token) = self.api_token_by_id(&id)? {
                out.push(token);
            }
        }
        Ok(out)
    }

    /// Every API token.
    pub fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        decode_all("api_tokens", &self.api_tokens)
    }

    /// How many API tokens exist.
    pub fn api_token_count(&self) -> usize {
        self.api_token_ids.len()
    }

    /// Deletes an API token; returns it, or `None` if it did not exist.
    pub fn delete_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let Some(digest) = self.api_token_ids.get(id.as_bytes())? else {
            return Ok(None);
        };
        let Some(token) = self
            .api_tokens
            .get(&digest)?
            .map(|v| decode::<ApiTokenRecord>("api_tokens", &v))
            .transpose()?
        else {
            return Ok(None);
        };
        let index_key = user_token_key(token.user_id, id);
        (&self.api_tokens, &self.api_token_ids, &self.user_api_tokens).transaction(|(tokens, ids, by_user)| {
            tokens.remove(&digest)?;
            ids.remove(id.as_bytes())?;
            by_user.remove(index_key.as_slice())?;
            Ok(())
        })?;
        Ok(Some(token))
    }

    /// Records last-use times (written back periodically, not per request).
    pub fn touch_api_tokens(&self, uses: &[(String, i64)]) -> Result<(), StoreError> {
        for (id, at) in uses {
            let Some(digest) = self.api_token_ids.get(id.as_bytes())? else {
                continue;
            };
            let Some(value) = self.api_tokens.get(&digest)? else {
                continue;
            };
            let mut token: ApiTokenRecord = decode("api_tokens", &value)?;
            if token.last_used_at.is_none_or(|t| t < *at) {
                token.last_used_at = Some(*at);
                // Only if the token was not deleted meanwhile.
                let _ = self
                    .api_tokens
                    .compare_and_swap(&digest, Some(value), Some(encode(&token)?))?;
            }
        }
        Ok(())
    }

    // ----- OAuth clients -----

    /// Registers a client; [`StoreError::Taken`] if the id exists.
    pub fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let value = encode(client)?;
        let inserted = self
            .clients
            .compare_and_swap(client.client_id.as_bytes(), None::<&[u8]>, Some(value))?;
        inserted.map_err(|_| StoreError::Taken(Unique::ClientId))
    }

    /// The client with `client_id`.
    pub fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.clients
            .get(client_id.as_bytes())?
            .map(|v| decode("clients", &v))
            .transpose()
    }

    /// Every client, in id order.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        decode_all("clients", &self.clients)
    }

    /// How many clients exist.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Removes a client; false if it did not exist.
    pub fn remove_client(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.remove(client_id.as_bytes())?.is_some())
    }

    // ----- revoked access tokens -----

    /// Puts an access token's `jti` on the deny-list until `exp`.
    pub fn deny(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.denied.insert(jti.as_bytes(), &exp.to_be_bytes())?;
        Ok(())
    }

    /// The deny-list: (jti, expiry) pairs, dropping entries expired at `now`.
    pub fn denied(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut live = Vec::new();
        for entry in self.denied.iter() {
            let (jti, exp) = entry?;
            let exp = i64::from_be_bytes(eight_bytes("denied", "expiry", &exp)?);
            if exp <= now {
                self.denied.remove(&jti)?;
            } else {
                live.push((String::from_utf8_lossy(&jti).into_owned(), exp));
            }
        }
        Ok(live)
    }

    // ----- settings -----

    /// A setting an operator changed, if any.
    pub fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.settings
            .get(name)?
            .map(|v| {
                String::from_utf8(v.to_vec()).map_err(|e| StoreError::Corrupt {
                    tree: "settings",
                    detail: e.to_string(),
                })
            })
            .transpose()
    }

    /// Stores a setting (it wins over the config file from then on).
    pub fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.settings.insert(name, value.as_bytes())?;
        Ok(())
    }

    // ----- sessions and refresh tokens -----

    /// Stores a new session with its first refresh token, if `user` is still stored
    /// exactly as given (the caller checked a password or a role against it). Returns
    /// false, storing nothing, when the user changed or was deleted meanwhile.
    pub fn create_session(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
        digest: &[u8; 32],
        first: &RefreshRecord,
    ) -> Result<bool, StoreError> {
        let value = encode(session)?;
        let refresh = encode(first)?;
        let index_key = user_session_key(session.user_id, session.id);
        let created = (
            &self.users,
            &self.sessions,
            &self.user_sessions,
            &self.refresh,
            &self.last_login,
        )
            .transaction(|(users, sessions, index, tokens, last_login)| {
                let current: Option<UserRecord> = users
                    .get(user.id.as_bytes())?
                    .map(|v| decode("users", &v))
                    .transpose()
                    .or_else(abort)?;
                if current.as_ref() != Some(user) {
                    return Ok(false);
                }
                sessions.insert(session.id.as_bytes(), value.as_slice())?;
                index.insert(&index_key, &[])?;
                tokens.insert(digest, refresh.as_slice())?;
                last_login.insert(session.user_id.as_bytes(), &session.created_at.to_be_bytes())?;
                Ok(true)
            })?;
        Ok(created)
    }

    /// When `user_id` last opened a session (login, registration, password grant).
    pub fn last_login(&self, user_id: Uuid) -> Result<Option<i64>, StoreError> {
        self.last_login
            .get(user_id.as_bytes())?
            .map(|v| Ok(i64::from_be_bytes(eight_bytes("last_login", "time", &v)?)))
            .transpose()
    }

    /// The session with `id`.
    pub fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(id.as_bytes())?
            .map(|v| decode("sessions", &v))
            .transpose()
    }

    /// Every session of `user_id`, revoked ones included.
    pub fn sessions_of(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out = Vec::new();
        for key in self.user_sessions.scan_prefix(user_id.as_bytes()).keys() {
            let key = key?;
            let id = Uuid::from_slice(&key[16..]).map_err(|_| corrupt_index())?;
            if let Some(session) = self.session(id)? {
                out.push(session);
            }
        }
        Ok(out)
    }

    /// Every session that is neither revoked nor past its maximum age at `now`.
    pub fn live_sessions(&self, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let mut live = Vec::new();
        for entry in self.sessions.iter() {
            let (_, v) = entry?;
            let session: SessionRecord = decode("sessions", &v)?;
            if session.is_live(now) {
                live.push(session);
            }
        }
        Ok(live)
    }

    /// Marks a session revoked. Returns false if it was unknown or already revoked.
    pub fn revoke_session(&self, id: Uuid, now: i64) -> Result<bool, StoreError> {
        let revoked = self.sessions.transaction(|sessions| {
            let Some(v) = sessions.get(id.as_bytes())? else {
                return Ok(false);
            };
            let mut session: SessionRecord = decode("sessions", &v).or_else(abort)?;
            if session.revoked_at.is_some() {
                return Ok(false);
            }
            session.revoked_at = Some(now);
            sessions.insert(id.as_bytes(), encode(&session).or_else(abort)?)?;
            Ok(true)
        })?;
        Ok(revoked)
    }

    /// Deletes refresh tokens past their expiry, and sessions past their maximum age
    /// with their index entries: nothing can use them any more. Returns how many
    /// (sessions, refresh tokens) were deleted.
    pub fn purge_expired(&self, now: i64) -> Result<Purged, StoreError> {
        let mut tokens = 0;
        for entry in self.refresh.iter() {
            let (key, value) = entry?;
            let record: RefreshRecord = decode("refresh", &value)?;
            // Deleted only if unchanged since read (a concurrent rotation wins).
            if record.expires_at <= now && self.refresh.compare_and_swap(&key, Some(value), None::<&[u8]>)?.is_ok() {
                tokens += 1;
            }
        }
        let mut sessions = 0;
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let session: SessionRecord = decode("sessions", &value)?;
            if session.expires_at <= now {
                let index_key = user_session_key(session.user_id, session.id);
                (&self.sessions, &self.user_sessions).transaction(|(all, index)| {
                    all.remove(&key)?;
                    index.remove(&index_key)?;
                    Ok(())
                })?;
                sessions += 1;
            }
        }
        let mut api_tokens = 0;
        for token in self.api_tokens()? {
            if token.expires_at.is_some_and(|exp| exp + EXPIRED_API_TOKEN_KEPT <= now)
                && self.delete_api_token(&token.id)?.is_some()
            {
                api_tokens += 1;
            }
        }
        Ok(Purged {
            sessions,
            refresh_tokens: tokens,
            api_tokens,
        })
    }

    /// The refresh token stored under `digest`.
    pub fn refresh_token(&self, digest: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError> {
        self.refresh.get(digest)?.map(|v| decode("refresh", &v)).transpose()
    }

    /// Exchanges the refresh token `old` for `new` atomically: succeeds only if `old`
    /// has not been rotated yet and its session is not revoked.
    pub fn rotate_refresh(
        &self,
        old: &[u8; 32],
        new: &[u8; 32],
        record: &RefreshRecord,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let value = encode(record)?;
        let outcome = (&self.refresh, &self.sessions).transaction(|(tokens, sessions)| {
            let Some(v) = tokens.get(old)? else {
                return Ok(Rotation::Invalid);
            };
            let mut current: RefreshRecord = decode("refresh", &v).or_else(abort)?;
            if current.rotated_at.is_some() {
                return Ok(Rotation::Reused {
                    session_id: current.session_id,
                });
            }
            let Some(s) = sessions.get(current.session_id.as_bytes())? else {
                return Ok(Rotation::Invalid);
            };
            let session: SessionRecord = decode("sessions", &s).or_else(abort)?;
            if session.revoked_at.is_some() {
                return Ok(Rotation::Invalid);
            }
            current.rotated_at = Some(now);
            tokens.insert(old, encode(&current).or_else(abort)?)?;
            tokens.insert(new, value.as_slice())?;
            Ok(Rotation::Rotated)
        })?;
        Ok(outcome)
    }

    // ----- signing keys -----

    /// Every stored signing key, oldest first.
    pub fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys: Vec<KeyRecord> = decode_all("keys", &self.keys)?;
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }

    /// Inserts or replaces signing keys, atomically.
    pub fn put_keys(&self, keys: &[&KeyRecord]) -> Result<(), StoreError> {
        let encoded: Vec<(&str, Vec<u8>)> = keys
            .iter()
            .map(|k| encode(k).map(|v| (k.kid.as_str(), v)))
            .collect::<Result<_, _>>()?;
        self.keys.transaction(|tree| {
            for (kid, value) in &encoded {
                tree.insert(kid.as_bytes(), value.as_slice())?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Removes a signing key.
    pub fn remove_key(&self, kid: &str) -> Result<(), StoreError> {
        self.keys.remove(kid.as_bytes())?;
        Ok(())
    }

    // ----- audit trail -----

    /// The sequence number the next audit entry gets.
    pub fn next_audit_seq(&self) -> u64 {
        self.audit_next.fetch_add(1, Ordering::SeqCst)
    }

    /// Stores audit entry `seq` (from [`Store::next_audit_seq`]), dropping the oldest
    /// entry past [`AUDIT_CAPACITY`].
    pub fn append_audit(&self, seq: u64, record: &AuditRecord) -> Result<(), StoreError> {
        self.audit.insert(seq.to_be_bytes(), encode(record)?)?;
        if let Some(old) = seq.checked_sub(AUDIT_CAPACITY) {
            self.audit.remove(old.to_be_bytes())?;
        }
        Ok(())
    }

    /// The newest `limit` audit entries with their sequence numbers, oldest first.
    pub fn audit_tail(&self, limit: usize) -> Result<Vec<(u64, AuditRecord)>, StoreError> {
        let mut out: Vec<(u64, AuditRecord)> = self
            .audit
            .iter()
            .rev()
            .take(limit)
            .map(|e| {
                let (k, v) = e?;
                let seq = u64::from_be_bytes(eight_bytes("audit", "sequence number", &k)?);
                Ok((seq, decode("audit", &v)?))
            })
            .collect::<Result<_, StoreError>>()?;
        out.reverse();
        Ok(out)
    }
}

/// How long to wait for sled's file lock held by a handle that is just closing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled, waiting briefly for the file lock: sled releases it on background
/// threads just after its last handle drops (a store reopened at once, in this
/// process or right after another one exited). A lock still held after that means
/// another live process owns the store.
fn open_sled(db_dir: &Path) -> Result<sled::Db, StoreError> {
    let start = std::time::Instant::now();
    loop {
        match sled::Config::new().path(db_dir).cache_capacity(CACHE_BYTES).open() {
            // sled reports it as an I/O error naming the lock.
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if start.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::Engine(format!(
                        "{} is locked by another process (another tesserad on this data directory?)",
                        db_dir.display()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
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
