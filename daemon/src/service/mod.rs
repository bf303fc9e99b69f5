//! The business operations, one implementation each, whichever door (HTTP now, the
//! admin socket later) they come through. Callers parse and translate; everything
//! that decides or mutates lives here.
//!
//! - [`accounts`]: registration, login, `me`.
//! - [`sessions`]: sessions and refresh-token rotation, access refresh, logout, and
//!   the in-memory view of live sessions that every token check consults.
//! - [`api_tokens`]: persistent API tokens.
//! - [`clients`]: OAuth client registration.
//! - [`guest`]: guest tokens.
//! - [`oauth`]: OAuth grants, client authentication, introspection, revocation.
//! - [`operator`]: what the console does: users, sessions, settings, keys, audit.
//! - [`validate`]: input rules.

pub mod accounts;
pub mod api_tokens;
pub mod clients;
pub mod guest;
pub mod oauth;
pub mod operator;
pub mod sessions;
pub mod validate;

use crate::auth::password::{PasswordError, Passwords};
use crate::auth::throttle::Throttle;
use crate::clock::Clock;
use crate::config::Config;
use crate::store::{AuditRecord, Store, StoreError, UserRecord};
use crate::tokens::opaque::Secret;
use crate::tokens::{Grant, TokenError, Tokens};
use sessions::LiveSessions;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tessera_common::admin::{AuditEntry, Counters};
use tessera_common::api::Principal;
use tessera_common::claims::AccessClaims;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a slow subscriber may fall behind by before it misses some.
const EVENT_BACKLOG: usize = 1024;

/// Outcomes the caller must tell the client about. Each maps to one contract code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 400 `INVALID_REQUEST`.
    #[error("{message}")]
    InvalidRequest {
        /// The offending field, when there is one.
        field: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// 400 `INVALID_SCOPE`.
    #[error("{0}")]
    InvalidScope(String),
    /// 401 `LOGIN_FAILED`: same answer whether or not the account exists.
    #[error("invalid username or password")]
    LoginFailed,
    /// 401 `INVALID_TOKEN`; `presented` is false when no credentials were sent.
    #[error("missing, invalid, expired or revoked token")]
    InvalidToken {
        /// Whether a token was presented at all.
        presented: bool,
    },
    /// OAuth `invalid_client`: unknown client or wrong secret.
    #[error("client authentication failed")]
    InvalidClient,
    /// OAuth `unsupported_grant_type`.
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// 403 `INSUFFICIENT_SCOPE`: wrong kind of token for this operation.
    #[error("{0}")]
    InsufficientScope(&'static str),
    /// 403 `ACCOUNT_DISABLED` (only after a correct password).
    #[error("this account is disabled")]
    AccountDisabled,
    /// 403 `GUEST_DISABLED`.
    #[error("guest access is disabled")]
    GuestDisabled,
    /// 403 `REGISTRATION_CLOSED`.
    #[error("registration is closed")]
    RegistrationClosed,
    /// 404 `NOT_FOUND`: no such user, session, key, ….
    #[error("{0}")]
    NotFound(String),
    /// A name is taken (console only: client ids).
    #[error("{0}")]
    Conflict(String),
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("request body is over {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("send application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    /// 409 `USERNAME_TAKEN`.
    #[error("that username is taken")]
    UsernameTaken,
    /// 409 `EMAIL_TAKEN`.
    #[error("that email address is already registered")]
    EmailTaken,
    /// 429 `TOO_MANY_ATTEMPTS`.
    #[error("too many failed attempts; retry later")]
    TooManyAttempts {
        /// When to retry.
        retry_after: Duration,
    },
    /// 503 `OVERLOADED`.
    #[error("the server is busy; retry shortly")]
    Overloaded {
        /// When to retry.
        retry_after: Duration,
    },
    /// Something failed inside the daemon; never the client's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<PasswordError> for ServiceError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Overloaded => ServiceError::Overloaded {
                retry_after: Duration::from_secs(1),
            },
            PasswordError::Internal(e) => ServiceError::Internal(e),
        }
    }
}

impl From<TokenError> for ServiceError {
    /// For signing and key management; verification failures are mapped by
    /// [`Service::authenticate`] instead.
    fn from(e: TokenError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<getrandom::Error> for ServiceError {
    fn from(e: getrandom::Error) -> Self {
        ServiceError::Internal(format!("random source: {e}"))
    }
}

/// Result of an operation that hands out tokens.
#[derive(Debug)]
pub struct Issued {
    /// The signed access token.
    pub access_token: String,
    /// A new refresh token, when the grant makes one.
    pub refresh_token: Option<Secret>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Scopes of the access token.
    pub scopes: Vec<String>,
    /// Who the token speaks for; `None` for client-credentials tokens.
    pub principal: Option<Principal>,
}

/// What a verified, unrevoked access token speaks for.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A user's session token.
    Session {
        /// The session.
        session_id: Uuid,
        /// Its owner.
        user_id: Uuid,
        /// The verified claims.
        claims: AccessClaims,
    },
    /// A persistent API token.
    ApiToken {
        /// Its public id.
        token_id: String,
        /// Its owner.
        user_id: Uuid,
        /// Its scopes.
        scopes: Vec<String>,
    },
    /// A guest token.
    Guest {
        /// The verified claims.
        claims: AccessClaims,
    },
    /// A client-credentials token.
    Client {
        /// The client.
        client_id: String,
        /// The verified claims.
        claims: AccessClaims,
    },
}

impl Caller {
    /// `INSUFFICIENT_SCOPE` unless this is a user's session token (API-token
    /// management, access refresh and logout need one; contract §7).
    pub fn require_session(&self) -> Result<(), ServiceError> {
        match self {
            Caller::Session { .. } => Ok(()),
            _ => Err(ServiceError::InsufficientScope("a session access token is required")),
        }
    }
}

/// Where a request came from, for throttling and the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// Client address.
    pub addr: std::net::IpAddr,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

/// The operator behind an admin-socket request (its peer credentials).
#[derive(Debug, Clone, Copy)]
pub struct Operator {
    /// Peer uid.
    pub uid: u32,
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uid={}", self.uid)
    }
}

/// The daemon's state and operations.
#[derive(Debug)]
pub struct Service {
    config: Arc<Config>,
    store: Store,
    tokens: Tokens,
    passwords: Passwords,
    throttle: Throttle,
    live: LiveSessions,
    clock: Arc<dyn Clock>,
    guest_enabled: AtomicBool,
    registration_open: AtomicBool,
    events: broadcast::Sender<AuditEntry>,
    counters: Tally,
    last_used: api_tokens::LastUsed,
    started: std::time::Instant,
}

/// Activity counters, bumped as audit entries are written.
#[derive(Debug, Default)]
struct Tally {
    logins: AtomicU64,
    failures: AtomicU64,
    refreshes: AtomicU64,
    issued: AtomicU64,
    reuse_detected: AtomicU64,
    revocations: AtomicU64,
    admin_actions: AtomicU64,
}

impl Tally {
    fn count(&self, event: &str) {
        let counter = match event {
            "login.success" | "register" => &self.logins,
            "login.failure" | "login.disabled" => &self.failures,
            "token.refresh" => &self.refreshes,
            "logout" => &self.revocations,
            "token.reuse" => {
                self.reuse_detected.fetch_add(1, Ordering::Relaxed);
                &self.revocations
            }
            _ if event.starts_with("admin.") => {
                if matches!(
                    event,
                    "admin.session.revoke" | "admin.session.revoke_all" | "admin.user.disable"
                ) {
                    self.revocations.fetch_add(1, Ordering::Relaxed);
                }
                &self.admin_actions
            }
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Counters {
        Counters {
            logins: self.logins.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
            issued: self.issued.load(Ordering::Relaxed),
            reuse_detected: self.reuse_detected.load(Ordering::Relaxed),
            revocations: self.revocations.load(Ordering::Relaxed),
            admin_actions: self.admin_actions.load(Ordering::Relaxed),
        }
    }
}

impl Service {
    /// Takes the opened store, loads (or makes) the signing key and the live-session
    /// view. `issuer` is the `iss` of every token.
    pub async fn open(
        config: Arc<Config>,
        store: Store,
        clock: Arc<dyn Clock>,
        issuer: String,
    ) -> Result<Self, ServiceError> {
        let now = clock.now();
        let tokens = Tokens::load(&store, issuer, now)?;
        let live = LiveSessions::load(&store, now.unix_timestamp())?;
        store.commit().await?;
        let workers = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let passwords = Passwords::new(config.argon2, workers).await?;
        Ok(Self {
            throttle: Throttle::new(config.throttle),
            guest_enabled: AtomicBool::new(operator::stored_flag(&store, operator::GUEST, config.guest_enabled)?),
            registration_open: AtomicBool::new(operator::stored_flag(
                &store,
                operator::REGISTRATION,
                config.registration_open,
            )?),
            events: broadcast::channel(EVENT_BACKLOG).0,
            counters: Tally::default(),
            last_used: api_tokens::LastUsed::default(),
            started: std::time::Instant::now(),
            config,
            store,
            tokens,
            passwords,
            live,
            clock,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The published verification keys.
    pub fn keys(&self) -> Vec<tessera_common::api::KeyView> {
        self.tokens.published()
    }

    /// True while the store accepts writes.
    pub fn is_healthy(&self) -> bool {
        self.store.is_healthy()
    }

    /// Periodic upkeep: forget stale throttle counters and ended sessions.
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.throttle.sweep(now);
        self.live.sweep(now.unix_timestamp());
        self.sweep_keys(now);
        self.write_back_last_used();
    }

    /// Deletes stored refresh tokens, sessions and deny-list entries that have expired,
    /// and API tokens expired for 30 days (hourly upkeep, so the store does not grow
    /// without bound).
    pub fn purge_expired(&self) {
        match self.store.purge_expired(self.now().unix_timestamp()) {
            Ok(purged) if purged == crate::store::Purged::default() => {}
            Ok(purged) => tracing::info!(
                sessions = purged.sessions,
                refresh_tokens = purged.refresh_tokens,
                api_tokens = purged.api_tokens,
                denied = purged.denied,
                "purged expired records"
            ),
            Err(e) => tracing::warn!(error = %e, "could not purge expired records"),
        }
    }

    /// Drops retiring keys once every token they can have signed has expired
    /// (retirement + the longest access or guest TTL).
    fn sweep_keys(&self, now: OffsetDateTime) {
        let ttl = self.config.tokens;
        let longest = ttl.access.max(ttl.guest).as_secs();
        let cutoff = now
            .unix_timestamp()
            .saturating_sub(i64::try_from(longest).unwrap_or(i64::MAX));
        match self.tokens.sweep(&self.store, cutoff) {
            Ok(dropped) => {
                for kid in dropped {
                    tracing::info!(%kid, "dropped a retired signing key");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not sweep retired keys"),
        }
    }

    /// Writes back pending state and syncs the store to disk (shutdown).
    pub async fn flush(&self) -> Result<(), ServiceError> {
        self.write_back_last_used();
        Ok(self.store.commit().await?)
    }

    /// Verifies an access token and checks it against the live view (session revoked,
    /// user disabled or deleted); no disk read.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, ServiceError> {
        let token = token.ok_or(ServiceError::InvalidToken { presented: false })?;
        if token.starts_with(crate::tokens::opaque::API_TOKEN_PREFIX) {
            return self.authenticate_api_token(token);
        }
        let now = self.clock.now();
        let claims = self.tokens.verify(token, now).map_err(|e| match e {
            TokenError::Invalid | TokenError::UnknownKey | TokenError::Expired => {
                ServiceError::InvalidToken { presented: true }
            }
            other => ServiceError::Internal(other.to_string()),
        })?;
        let rejected = ServiceError::InvalidToken { presented: true };
        if self.live.is_denied(&claims.jti) {
            return Err(rejected);
        }
        let is_guest = claims.sub.starts_with(guest::SUBJECT_PREFIX);
        match (&claims.sid, &claims.client_id) {
            (Some(sid), None) if !is_guest => {
                let session_id = Uuid::parse_str(sid).map_err(|_| ServiceError::InvalidToken { presented: true })?;
                let user_id =
                    Uuid::parse_str(&claims.sub).map_err(|_| ServiceError::InvalidToken { presented: true })?;
                if !self.live.is_live(session_id, user_id, now.unix_timestamp()) {
                    return Err(rejected);
                }
                Ok(Caller::Session {
                    session_id,
                    user_id,
                    claims,
                })
            }
            (None, None) if is_guest && claims.role.as_deref() == Some(guest::ROLE) => Ok(Caller::Guest { claims }),
            (None, Some(client_id)) if claims.role.is_none() && *client_id == claims.sub => {
                // A removed client's tokens die with it, and stay dead if a client with
                // the same id is added again: they must be younger than the record.
                let issued = crate::clock::parse_rfc3339(&claims.iat).map(OffsetDateTime::unix_timestamp);
                let current = self.store.client(client_id)?;
                if current.is_none_or(|c| issued.is_none_or(|iat| iat < c.created_at)) {
                    return Err(rejected);
                }
                Ok(Caller::Client {
                    client_id: client_id.clone(),
                    claims,
                })
            }
            _ => Err(rejected),
        }
    }

    /// The part of `granted` that `user`'s role allows now: scopes are checked against
    /// the current role at every use, so a demotion or a narrower `[roles.*]` in the
    /// configuration applies to sessions and API tokens that already exist.
    pub(super) fn allowed_scopes(&self, user: &UserRecord, granted: &[String]) -> Vec<String> {
        let role = self.config.role_scopes(&user.role).unwrap_or_default();
        granted.iter().filter(|s| role.contains(s)).cloned().collect()
    }

    /// Signs an access token for `grant`, valid from `now` until `exp`.
    fn issue(
        &self,
        grant: Grant,
        now: OffsetDateTime,
        exp: OffsetDateTime,
        principal: Option<Principal>,
    ) -> Result<Issued, ServiceError> {
        let scopes = grant.scopes.clone();
        let (access_token, _) = self.tokens.sign(grant, now, exp)?;
        self.counters.issued.fetch_add(1, Ordering::Relaxed);
        Ok(Issued {
            access_token,
            refresh_token: None,
            expires_in: seconds_until(now, exp),
            scopes,
            principal,
        })
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Appends to the audit trail and tells subscribers; a failure to store is logged,
    /// not fatal to the request.
    fn audit(&self, event: &str, subject: Option<String>, origin: Option<String>, detail: Option<String>) {
        let record = AuditRecord {
            at: self.now().unix_timestamp(),
            event: event.to_owned(),
            subject,
            origin,
            detail,
        };
        let seq = self.store.next_audit_seq();
        if let Err(e) = self.store.append_audit(seq, &record) {
            tracing::warn!(error = %e, event, "could not write audit entry");
        }
        self.counters.count(event);
        // No subscriber is not an error.
        let _ = self.events.send(audit_entry(seq, record));
    }

    /// Live activity: every audit entry as it is written.
    pub fn subscribe(&self) -> broadcast::Receiver<AuditEntry> {
        self.events.subscribe()
    }

    fn guest_enabled(&self) -> bool {
        self.guest_enabled.load(Ordering::Relaxed)
    }

    fn registration_open(&self) -> bool {
        self.registration_open.load(Ordering::Relaxed)
    }
}

/// The console's view of an audit record.
fn audit_entry(seq: u64, record: AuditRecord) -> AuditEntry {
    AuditEntry {
        seq,
        at: crate::clock::rfc3339(OffsetDateTime::from_unix_timestamp(record.at).unwrap_or(OffsetDateTime::UNIX_EPOCH)),
        event: record.event,
        subject: record.subject,
        origin: record.origin,
        detail: record.detail,
    }
}

/// Seconds from `now` until `exp`, at least zero.
fn seconds_until(now: OffsetDateTime, exp: OffsetDateTime) -> u64 {
    u64::try_from((exp - now).whole_seconds()).unwrap_or(0)
}

/// `now + d`, saturating far in the future.
fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now.checked_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
        .unwrap_or(now)
}
