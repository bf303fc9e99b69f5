//! The business operations, one implementation each, whichever door (HTTP or the
//! admin socket) they come through. Callers parse and translate; everything that
//! decides or mutates lives here. This file holds [`Service`] itself: opening it,
//! authenticating bearer tokens, signing, and the periodic upkeep.
//!
//! - [`accounts`]: registration, login, `me`.
//! - [`sessions`]: sessions and refresh-token rotation, access refresh, logout.
//! - [`revocations`]: the in-memory view of recent revocations that every token check
//!   consults.
//! - `follow`: on a shared store, the other daemons' changes applied to this one's
//!   memory, and refusing tokens when that view is too old.
//! - [`api_tokens`]: persistent API tokens.
//! - [`clients`]: OAuth client registration.
//! - [`guest`]: guest tokens.
//! - [`grants`]: the token endpoint's grant types, typed request and policy.
//! - [`signin`]: the sign-in pages' flow, step by step.
//! - [`oauth`]: OAuth grants, client authentication, introspection, revocation.
//! - [`operator`]: what the console does: users, sessions, settings, keys, audit.
//! - [`validate`]: input rules.
//! - `audit`: the typed audit events; `counters`: the activity counters they move.
//! - `error`: [`ServiceError`], one variant per contract outcome.

pub mod accounts;
pub mod api_tokens;
mod audit;
pub mod authorize;
pub mod clients;
mod counters;
pub mod email;
mod error;
mod follow;
mod forms;
pub mod grants;
pub mod guest;
pub mod mfa;
pub mod oauth;
mod oidc;
pub mod operator;
mod own_account;
mod pages;
pub mod redirect;
pub mod revocations;
pub mod sessions;
pub mod signin;
pub mod validate;

#[cfg(test)]
mod tests;

use crate::auth::password::Passwords;
use crate::auth::rate::RateLimit;
use crate::auth::throttle::Throttle;
use crate::clock::Clock;
use crate::config::Config;
use crate::secret::Secret;
use crate::store::{LinkKind, Store, UserRecord};
use crate::tokens::{Grant, TokenError, Tokens};
pub use counters::{Cause, TokenKind, Totals};
pub use error::ServiceError;
use revocations::Revocations;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tessera_common::admin::AuditEntry;
use tessera_common::api::Principal;
use tessera_common::claims::AccessClaims;
use tessera_common::scopes;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a slow subscriber may fall behind by before it misses some.
const EVENT_BACKLOG: usize = 1024;

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
    /// The OpenID Connect ID token, when `openid` was granted by a browser sign-in.
    pub id_token: Option<String>,
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
        claims: Arc<AccessClaims>,
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
        claims: Arc<AccessClaims>,
    },
    /// A client-credentials token.
    Client {
        /// The client.
        client_id: String,
        /// The verified claims.
        claims: Arc<AccessClaims>,
    },
}

impl Caller {
    /// `INSUFFICIENT_SCOPE` unless this is a user's session token (API-token
    /// management, access refresh and logout need one; see docs/decisions.md).
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
    revocations: Revocations,
    clock: Arc<dyn Clock>,
    guest_enabled: AtomicBool,
    registration_open: AtomicBool,
    events: broadcast::Sender<AuditEntry>,
    counters: counters::Tally,
    last_used: api_tokens::LastUsed,
    checked_clients: clients::CheckedClients,
    follower: follow::Follower,
    form_key: forms::FormKey,
    outbox: crate::mail::Outbox,
    outbox_queue: email::OutboxQueue,
    mail_limit: RateLimit<(LinkKind, String)>,
    exists_limit: RateLimit<std::net::IpAddr>,
    started: std::time::Instant,
}

impl Service {
    /// Takes the opened store, loads (or makes) the signing key and the revocation
    /// view. `issuer` is the `iss` of every token.
    pub async fn open(
        config: Arc<Config>,
        store: Store,
        clock: Arc<dyn Clock>,
        issuer: String,
    ) -> Result<Self, ServiceError> {
        let now = clock.now();
        let tokens = load_keys(&store, issuer, now, config.verified_cache_entries).await?;
        let horizon = store.raise_token_horizon(seconds(config.tokens.access)).await?;
        let revocations = Revocations::load(&store, now.unix_timestamp(), horizon).await?;
        let form_key = forms::FormKey::load(&store).await?;
        store.commit().await?;
        let workers = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let passwords = Passwords::new(config.argon2, workers)?;
        let (outbox, queue) =
            crate::mail::Outbox::open(&config.mail).map_err(|e| ServiceError::Internal(format!("mail: {e}")))?;
        Ok(Self {
            outbox,
            outbox_queue: std::sync::Mutex::new(Some(queue)),
            mail_limit: RateLimit::new(config.mail.max_per_hour, Duration::from_secs(3600)),
            exists_limit: RateLimit::new(email::EXISTS_PER_MINUTE, Duration::from_secs(60)),
            throttle: Throttle::new(config.throttle),
            guest_enabled: AtomicBool::new(operator::stored_flag(&store, operator::GUEST, config.guest_enabled).await?),
            registration_open: AtomicBool::new(
                operator::stored_flag(&store, operator::REGISTRATION, config.registration_open).await?,
            ),
            events: broadcast::channel(EVENT_BACKLOG).0,
            counters: counters::Tally::default(),
            last_used: api_tokens::LastUsed::default(),
            checked_clients: clients::CheckedClients::default(),
            follower: follow::Follower::default(),
            form_key,
            started: std::time::Instant::now(),
            config,
            store,
            tokens,
            passwords,
            revocations,
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

    /// Periodic upkeep: forget stale throttle counters and revocations no unexpired
    /// token can concern.
    pub async fn sweep(&self) {
        let now = self.clock.now();
        self.throttle.sweep(now);
        self.mail_limit.sweep(now.unix_timestamp());
        self.exists_limit.sweep(now.unix_timestamp());
        self.revocations.sweep(now.unix_timestamp());
        self.sweep_keys(now).await;
        self.write_back_last_used().await;
    }

    /// Deletes stored refresh tokens, sessions and deny-list entries that have expired,
    /// API tokens expired for 30 days, and audit entries older than `audit.retain`
    /// (hourly upkeep, so the store does not grow without bound).
    pub async fn purge_expired(&self) {
        let now = self.now().unix_timestamp();
        let retain = seconds(self.config.audit_retain);
        match self.store.purge_audit(now.saturating_sub(retain)).await {
            Ok(0) => {}
            Ok(entries) => tracing::info!(entries, "purged audit entries older than audit.retain"),
            Err(e) => tracing::warn!(error = %e, "could not purge the audit trail"),
        }
        match self.store.purge_expired(now).await {
            Ok(purged) if purged == crate::store::Purged::default() => {}
            Ok(purged) => tracing::info!(
                sessions = purged.sessions,
                refresh_tokens = purged.refresh_tokens,
                api_tokens = purged.api_tokens,
                denied = purged.denied,
                revocations = purged.revocations,
                links = purged.links,
                mfa_tokens = purged.mfa_tokens,
                "purged expired records"
            ),
            Err(e) => tracing::warn!(error = %e, "could not purge expired records"),
        }
    }

    /// Drops retiring keys once every token they can have signed has expired
    /// (retirement + the longest access or guest TTL).
    async fn sweep_keys(&self, now: OffsetDateTime) {
        let ttl = self.config.tokens;
        let longest = ttl.access.max(ttl.guest).as_secs();
        let cutoff = now
            .unix_timestamp()
            .saturating_sub(i64::try_from(longest).unwrap_or(i64::MAX));
        let remove = async |kids: &[String]| -> Result<(), ServiceError> {
            for kid in kids {
                self.store.remove_key(kid).await?;
            }
            Ok(())
        };
        match self.tokens.sweep(cutoff, remove).await {
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
        self.write_back_last_used().await;
        Ok(self.store.commit().await?)
    }

    /// Verifies a bearer token and checks that it is still good. Session and guest
    /// tokens are checked against the in-memory revocation view only (session revoked,
    /// user disabled or deleted, jti denied), except tokens older than an upgrade from
    /// a store without that view's index; API tokens and client tokens also read their
    /// record (API token and owner, or client) from the store.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Caller, ServiceError> {
        let token = token.ok_or(ServiceError::InvalidToken { presented: false })?;
        self.require_current_view()?;
        if token.starts_with(crate::secret::API_TOKEN_PREFIX) {
            return self.authenticate_api_token(token).await;
        }
        let now = self.clock.now();
        let claims = self.tokens.verify(token, now).map_err(|e| match e {
            TokenError::Invalid | TokenError::UnknownKey | TokenError::Expired => {
                ServiceError::InvalidToken { presented: true }
            }
            other => ServiceError::Internal(other.to_string()),
        })?;
        let rejected = ServiceError::InvalidToken { presented: true };
        if self.revocations.is_denied(&claims.jti) {
            return Err(rejected);
        }
        let is_guest = claims.sub.starts_with(guest::SUBJECT_PREFIX);
        match (&claims.sid, &claims.client_id) {
            // A user's session token, possibly issued to a client (`client_id`).
            (Some(sid), _) if !is_guest => {
                let session_id = Uuid::parse_str(sid).map_err(|_| ServiceError::InvalidToken { presented: true })?;
                let user_id =
                    Uuid::parse_str(&claims.sub).map_err(|_| ServiceError::InvalidToken { presented: true })?;
                if self.revocations.is_revoked(session_id) || self.revocations.is_barred(user_id) {
                    return Err(rejected);
                }
                let iat = || crate::clock::parse_rfc3339(&claims.iat).map(OffsetDateTime::unix_timestamp);
                if self.revocations.predates_index(iat, now.unix_timestamp())
                    && !self.is_open_in_store(session_id, user_id, now.unix_timestamp()).await?
                {
                    return Err(rejected);
                }
                // An app's session token dies with the app, like its client tokens.
                if let Some(client_id) = &claims.client_id
                    && !self.client_issued(client_id, iat()).await?
                {
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
                let issued = crate::clock::parse_rfc3339(&claims.iat).map(OffsetDateTime::unix_timestamp);
                if !self.client_issued(client_id, issued).await? {
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

    /// True when the client `client_id` exists and a token issued at `issued` was issued
    /// to it: a removed client's tokens die with it, and stay dead if a client with the
    /// same id is added again (they must be younger than its record).
    async fn client_issued(&self, client_id: &str, issued: Option<i64>) -> Result<bool, ServiceError> {
        let current = self.store.client(client_id).await?;
        Ok(current.is_some_and(|c| issued.is_some_and(|iat| iat >= c.created_at)))
    }

    /// True when the store holds `session_id` of `user_id`, neither revoked nor past its
    /// maximum age, and the user is enabled.
    async fn is_open_in_store(&self, session_id: Uuid, user_id: Uuid, now: i64) -> Result<bool, ServiceError> {
        let session = self.store.session(session_id).await?;
        let open = session.is_some_and(|s| s.user_id == user_id && s.is_live(now));
        Ok(open && self.store.user(user_id).await?.is_some_and(|u| !u.disabled))
    }

    /// The part of `granted` that `user`'s role allows now: scopes are checked against
    /// the current role at every use, so a demotion or a narrower `[roles.*]` in the
    /// configuration applies to sessions and API tokens that already exist. The
    /// OpenID Connect identity scopes need no role.
    pub(super) fn allowed_scopes(&self, user: &UserRecord, granted: &[String]) -> Vec<String> {
        let role = self.config.role_scopes(&user.role).unwrap_or_default();
        granted
            .iter()
            .filter(|s| role.contains(s) || scopes::is_identity(s))
            .cloned()
            .collect()
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
        let kind = if grant.client_id.is_some() {
            counters::TokenKind::Client
        } else if grant.sid.is_some() {
            counters::TokenKind::Access
        } else {
            counters::TokenKind::Guest
        };
        let (access_token, _) = self.tokens.sign(grant, now, exp)?;
        self.counters.bump(counters::Counter::Issued(kind));
        Ok(Issued {
            access_token,
            refresh_token: None,
            expires_in: seconds_until(now, exp),
            scopes,
            principal,
            id_token: None,
        })
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn guest_enabled(&self) -> bool {
        self.guest_enabled.load(Ordering::Relaxed)
    }

    fn registration_open(&self) -> bool {
        self.registration_open.load(Ordering::Relaxed)
    }
}

/// The signing keys from the store; on first start (or the first start of a version
/// with more kinds of keys), the missing keys, stored before they sign (the caller
/// commits before serving).
async fn load_keys(store: &Store, issuer: String, now: OffsetDateTime, cache: usize) -> Result<Tokens, ServiceError> {
    let mut records = store.keys().await?;
    let missing = crate::tokens::missing_keys(&records, now)?;
    if !missing.is_empty() {
        match store.put_keys(&missing).await {
            Ok(()) => {
                for key in &missing {
                    tracing::info!(kid = %key.kid, kind = key.kind.name(), "generated a new signing key");
                }
                records.extend(missing);
            }
            // A daemon sharing the store made them at the same moment: use those.
            Err(crate::store::StoreError::Taken(crate::store::Unique::ActiveKey)) => records = store.keys().await?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Tokens::new(issuer, records, cache)?)
}

/// `d` in whole seconds, saturating.
fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
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
