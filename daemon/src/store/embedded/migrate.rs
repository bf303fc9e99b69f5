//! Upgrades a store written by an older Tessera, once, at open, before anything reads
//! it. Every step can run again, so a start that crashes part-way is finished by the
//! next one; the schema record is written last, after everything else is on disk.
//!
//! Version 1 → 2:
//! - records were JSON and are now postcard (a record that no longer parses as JSON
//!   was converted by an interrupted run);
//! - `user_sessions` entries hold the session's end while it is not revoked;
//! - the counters of users, open sessions and refresh-token records;
//! - disabled users are barred (see [`super::revocations`]);
//! - the time of the upgrade: version 1 kept no index of revocations, so tokens issued
//!   before it are checked against the store itself until they have expired.
//!
//! Version 2 → 3: client records gain redirect URIs, post-logout redirect URIs and the
//! public and first-party flags (none, none, false, false for existing clients).
//!
//! Version 3 → 4: session records gain their kind (existing ones are app sessions)
//! and the client their tokens were issued to (none).
//!
//! Version 4 → 5: client records gain the secret a rotation retires (none).
//!
//! Version 5 → 6: one key per user where there was one per session, since sled's
//! memory follows the number of keys:
//! - `user_sessions` (user ‖ session → end) and `last_login` (user → time) move into
//!   each user's value ([`StoredUser`]: the record, the last login and the open
//!   sessions);
//! - a revoked session no longer keeps its record (the revocation index is what
//!   refuses its tokens);
//! - refresh-token records lose the digest of the token they replaced (nothing read
//!   it) and move from `refresh` to `refresh_tokens`.
//!
//! Version 6 → 7: audit entries gain the id of the request that caused them (none).
//!
//! Version 7 → 8 (OpenID Connect): signing keys gain their kind (existing ones sign
//! PASETO tokens; the ID-token keys are made at the next start), clients their
//! ID-token algorithm (RS256), codes the request's nonce (none) and the sign-in time
//! (0), sessions the browser sign-in they came from (none).
//!
//! Version 8 → 9: logins waiting for a second factor remember the password they were
//! checked against; those waiting at the upgrade (they live five minutes) are dropped.
//!
//! The trees a step leaves behind ([`RETIRED_TREES`]) are not emptied: nothing reads
//! them, backups leave them out, so `tesserad compact` drops them. Emptying them here
//! took minutes at a million users, and sled's `drop_tree` holds a whole tree in
//! memory until it is done.

use super::FOR_GOOD;
use super::revocations::INDEXED_SINCE;
use super::users::Logins;
use super::users::StoredUser;
use super::{Counter, SCHEMA_VERSION, StoreError, decode, encode};
use crate::records::{
    ApiTokenRecord, AuditRecord, ClientRecord, CodeRecord, IdTokenAlg, KeyKind, KeyRecord, RefreshRecord,
    RetiringSecret, SessionKind, SessionRecord, UserRecord,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Trees an upgrade step left behind, which backups (and so compaction) leave out.
pub(super) const RETIRED_TREES: [&str; 3] = ["user_sessions", "last_login", "refresh"];

/// Records converted per batch.
const BATCH: usize = 10_000;

/// Brings the store in `db` from schema version `from` to [`SCHEMA_VERSION`].
pub(super) fn run(db: &sled::Db, from: u32) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    tracing::info!(from, to = SCHEMA_VERSION, "upgrading the store; this runs once");
    if from < 2 {
        v1_to_v2(db)?;
    }
    // Each step converts to the next layout only; the later steps take it from there.
    if from < 3 {
        upgrade(db, "clients", |old: ClientRecordV2| {
            Ok(ClientRecordV4 {
                client_id: old.client_id,
                secret_digest: old.secret_digest,
                scopes: old.scopes,
                created_at: old.created_at,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                public: false,
                first_party: false,
            })
        })?;
    }
    if from < 4 {
        upgrade(db, "sessions", |old: SessionRecordV3| {
            Ok(SessionRecordV7 {
                id: old.id,
                user_id: old.user_id,
                scopes: old.scopes,
                created_at: old.created_at,
                expires_at: old.expires_at,
                revoked_at: old.revoked_at,
                kind: SessionKind::App,
                client_id: None,
            })
        })?;
    }
    if from < 5 {
        upgrade(db, "clients", |old: ClientRecordV4| {
            Ok(ClientRecordV7 {
                client_id: old.client_id,
                secret_digest: old.secret_digest,
                scopes: old.scopes,
                created_at: old.created_at,
                redirect_uris: old.redirect_uris,
                post_logout_redirect_uris: old.post_logout_redirect_uris,
                public: old.public,
                first_party: old.first_party,
                retiring_secret: None,
            })
        })?;
    }
    if from < 6 {
        v5_to_v6(db)?;
    }
    if from < 7 {
        upgrade(db, "audit", |old: AuditRecordV6| {
            Ok(AuditRecord {
                at: old.at,
                event: old.event,
                subject: old.subject,
                origin: old.origin,
                detail: old.detail,
                request_id: None,
            })
        })?;
    }
    if from < 8 {
        v7_to_v8(db)?;
    }
    if from < 9 {
        db.open_tree("mfa_tokens")?.clear()?;
    }
    db.flush()?;
    db.open_tree("meta")?
        .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "store upgraded to schema version {SCHEMA_VERSION}"
    );
    Ok(())
}

fn v1_to_v2(db: &sled::Db) -> Result<(), StoreError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let barred = db.open_tree("barred")?;
    let mut users = 0i64;
    reencode::<UserRecord>(db, "users", |user| {
        users += 1;
        if user.disabled {
            barred.insert(user.id.as_bytes(), &FOR_GOOD.to_be_bytes())?;
        }
        Ok(())
    })?;
    let index = db.open_tree("user_sessions")?;
    let mut open = 0i64;
    reencode::<SessionRecord>(db, "sessions", |session| {
        if session.revoked_at.is_none() {
            open += 1;
            index.insert(
                user_session_key(session.user_id, session.id),
                &session.expires_at.to_be_bytes(),
            )?;
        }
        Ok(())
    })?;
    let mut refresh = 0i64;
    reencode::<RefreshRecordV5>(db, "refresh", |_| {
        refresh += 1;
        Ok(())
    })?;
    reencode::<KeyRecord>(db, "keys", |_| Ok(()))?;
    reencode::<ClientRecord>(db, "clients", |_| Ok(()))?;
    reencode::<ApiTokenRecord>(db, "api_tokens", |_| Ok(()))?;
    reencode::<AuditRecord>(db, "audit", |_| Ok(()))?;
    let meta = db.open_tree("meta")?;
    meta.insert(Counter::Users.key(), &users.to_be_bytes())?;
    meta.insert(Counter::Sessions.key(), &open.to_be_bytes())?;
    meta.insert(Counter::Refresh.key(), &refresh.to_be_bytes())?;
    meta.insert(INDEXED_SINCE, &now.to_be_bytes())?;
    tracing::info!(
        users,
        open_sessions = open,
        "converted the records to the compact encoding"
    );
    Ok(())
}

/// Index key of a session under its user in schema versions 2 to 5.
fn user_session_key(user_id: uuid::Uuid, session_id: uuid::Uuid) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(user_id.as_bytes());
    key[16..].copy_from_slice(session_id.as_bytes());
    key
}

fn v5_to_v6(db: &sled::Db) -> Result<(), StoreError> {
    // Revoked sessions' records go.
    let sessions = db.open_tree("sessions")?;
    let mut removals = Batched::new(&sessions);
    for entry in sessions.iter() {
        let (key, value) = entry?;
        if decode::<SessionRecordV7>("sessions", &value)?.revoked_at.is_some() {
            removals.remove(key)?;
        }
    }
    let revoked = removals.finish()?;
    // Each user's value gains their last login and open sessions.
    let index = db.open_tree("user_sessions")?;
    let last_login = db.open_tree("last_login")?;
    let users = upgrade(db, "users", |user: UserRecord| {
        let mut logins = Logins::default();
        if let Some(time) = last_login.get(user.id.as_bytes())? {
            logins.last = Some(i64::from_be_bytes(super::eight_bytes("last_login", "time", &time)?));
        }
        for entry in index.scan_prefix(user.id.as_bytes()) {
            let (key, end) = entry?;
            // An empty value marked a revoked session.
            if end.is_empty() {
                continue;
            }
            let session = key
                .get(16..)
                .and_then(|b| uuid::Uuid::from_slice(b).ok())
                .ok_or_else(|| super::corrupt_index("user_sessions"))?;
            let end = i64::from_be_bytes(super::eight_bytes("user_sessions", "end", &end)?);
            logins.open.push((session, end));
        }
        Ok(StoredUser { user, logins })
    })?;
    // Refresh tokens move to their new tree, in their new layout.
    let new = db.open_tree("refresh_tokens")?;
    let mut copies = Batched::new(&new);
    for entry in db.open_tree("refresh")?.iter() {
        let (key, value) = entry?;
        let v5: RefreshRecordV5 = decode("refresh", &value)?;
        let record = RefreshRecord {
            session_id: v5.session_id,
            issued_at: v5.issued_at,
            expires_at: v5.expires_at,
            rotated_at: v5.rotated_at,
            client_id: v5.client_id,
        };
        copies.insert(key, encode(&record)?)?;
    }
    let tokens = copies.finish()?;
    db.flush()?;
    tracing::warn!(
        users,
        revoked,
        tokens,
        "sessions are now kept with their users; stop the daemon and run `tesserad compact` \
         at a quiet moment to drop the old layout, which still holds disk and memory"
    );
    Ok(())
}

fn v7_to_v8(db: &sled::Db) -> Result<(), StoreError> {
    upgrade(db, "keys", |old: KeyRecordV7| {
        Ok(KeyRecord {
            kid: old.kid,
            secret: old.secret,
            created_at: old.created_at,
            retired_at: old.retired_at,
            kind: KeyKind::Paseto,
        })
    })?;
    upgrade(db, "clients", |old: ClientRecordV7| {
        Ok(ClientRecord {
            client_id: old.client_id,
            secret_digest: old.secret_digest,
            scopes: old.scopes,
            created_at: old.created_at,
            redirect_uris: old.redirect_uris,
            post_logout_redirect_uris: old.post_logout_redirect_uris,
            public: old.public,
            first_party: old.first_party,
            retiring_secret: old.retiring_secret,
            id_token_alg: IdTokenAlg::RS256,
        })
    })?;
    upgrade(db, "codes", |old: CodeRecordV7| {
        Ok(CodeRecord {
            client_id: old.client_id,
            redirect_uri: old.redirect_uri,
            scopes: old.scopes,
            user_id: old.user_id,
            browser_session: old.browser_session,
            challenge: old.challenge,
            expires_at: old.expires_at,
            used_at: old.used_at,
            session_id: old.session_id,
            nonce: None,
            auth_time: 0,
        })
    })?;
    let sessions = upgrade(db, "sessions", |old: SessionRecordV7| {
        Ok(SessionRecord {
            id: old.id,
            user_id: old.user_id,
            scopes: old.scopes,
            created_at: old.created_at,
            expires_at: old.expires_at,
            revoked_at: old.revoked_at,
            kind: old.kind,
            client_id: old.client_id,
            browser_login: None,
        })
    })?;
    tracing::info!(
        sessions,
        "keys, clients, codes and sessions gained their OpenID Connect fields"
    );
    Ok(())
}

/// A signing key as schema versions 1 to 7 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct KeyRecordV7 {
    pub kid: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A client record as schema versions 5 to 7 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ClientRecordV7 {
    pub client_id: String,
    pub secret_digest: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub retiring_secret: Option<RetiringSecret>,
}

/// An authorization code as schema versions before 8 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CodeRecordV7 {
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub scopes: Vec<String>,
    pub user_id: uuid::Uuid,
    pub browser_session: uuid::Uuid,
    pub challenge: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub session_id: Option<uuid::Uuid>,
}

/// A session record as schema versions 4 to 7 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct SessionRecordV7 {
    pub id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub kind: SessionKind,
    pub client_id: Option<String>,
}

/// A refresh-token record as schema versions 1 to 5 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
struct RefreshRecordV5 {
    session_id: uuid::Uuid,
    issued_at: i64,
    expires_at: i64,
    parent: Option<String>,
    rotated_at: Option<i64>,
    #[serde(default)]
    client_id: Option<String>,
}

/// An audit entry as schema versions 2 to 6 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct AuditRecordV6 {
    pub at: i64,
    pub event: String,
    pub subject: Option<String>,
    pub origin: Option<String>,
    pub detail: Option<String>,
}

/// A client record as schema version 2 stored it.
#[derive(serde::Deserialize)]
struct ClientRecordV2 {
    client_id: String,
    secret_digest: String,
    scopes: Vec<String>,
    created_at: i64,
}

/// A client record as schema versions 3 and 4 stored it.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClientRecordV4 {
    client_id: String,
    secret_digest: String,
    scopes: Vec<String>,
    created_at: i64,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    public: bool,
    first_party: bool,
}

/// A session record as schema version 3 stored it.
#[derive(serde::Deserialize)]
struct SessionRecordV3 {
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    scopes: Vec<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

/// Rewrites every record of tree `name` stored in the `Old` layout as `New`, in
/// batches; returns how many. A record that reads as `New` was converted already (by
/// an interrupted run, or by an earlier step that wrote this layout or a later one,
/// which extends it): a record in the older layout is shorter and never reads as the
/// newer one.
fn upgrade<Old: DeserializeOwned, New: Serialize + DeserializeOwned>(
    db: &sled::Db,
    name: &'static str,
    mut convert: impl FnMut(Old) -> Result<New, StoreError>,
) -> Result<usize, StoreError> {
    let tree = db.open_tree(name)?;
    let mut converted = Batched::new(&tree);
    for entry in tree.iter() {
        let (key, value) = entry?;
        if postcard::from_bytes::<New>(&value).is_ok() {
            continue;
        }
        converted.insert(key, encode(&convert(decode::<Old>(name, &value)?)?)?)?;
    }
    converted.finish()
}

/// Rewrites every JSON record of tree `name` in the current encoding, calling `each`
/// with every record, converted now or before.
fn reencode<T: Serialize + DeserializeOwned>(
    db: &sled::Db,
    name: &'static str,
    mut each: impl FnMut(&T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let tree = db.open_tree(name)?;
    let mut converted = Batched::new(&tree);
    for entry in tree.iter() {
        let (key, value) = entry?;
        let record: T = match serde_json::from_slice(&value) {
            Ok(record) => {
                converted.insert(key, encode(&record)?)?;
                record
            }
            Err(_) => decode(name, &value)?,
        };
        each(&record)?;
    }
    converted.finish()?;
    Ok(())
}

/// Changes to one tree, applied [`BATCH`] at a time.
struct Batched<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    pending: usize,
    applied: usize,
}

impl<'a> Batched<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            batch: sled::Batch::default(),
            pending: 0,
            applied: 0,
        }
    }

    fn insert(&mut self, key: sled::IVec, value: Vec<u8>) -> Result<(), StoreError> {
        self.batch.insert(key, value);
        self.added()
    }

    fn remove(&mut self, key: sled::IVec) -> Result<(), StoreError> {
        self.batch.remove(key);
        self.added()
    }

    fn added(&mut self) -> Result<(), StoreError> {
        self.pending += 1;
        if self.pending == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.tree.apply_batch(std::mem::take(&mut self.batch))?;
        self.applied += self.pending;
        self.pending = 0;
        Ok(())
    }

    /// Applies what is left; returns how many changes were made in all.
    fn finish(mut self) -> Result<usize, StoreError> {
        self.flush()?;
        Ok(self.applied)
    }
}

#[cfg(test)]
pub(crate) mod tests;
