//! The records Tessera keeps (users, sessions, tokens, clients, keys, …): plain data
//! that the store persists and the layers above read. Times are Unix seconds.

use serde::{Deserialize, Serialize};
use std::fmt;
pub use tessera_common::oauth::IdTokenAlg;
use uuid::Uuid;

/// A registered account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Account id.
    pub id: Uuid,
    /// Username as registered (case kept).
    pub username: String,
    /// Email as registered (case kept).
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role name.
    pub role: String,
    /// Whether the address has been verified.
    pub email_verified: bool,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Disabled accounts cannot log in and hold no sessions.
    pub disabled: bool,
    /// Creation time.
    pub created_at: i64,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A login session: the root of a refresh-token lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id (`sid` in access tokens).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Scopes granted at login.
    pub scopes: Vec<String>,
    /// Login time.
    pub created_at: i64,
    /// Hard end: login + `session_max_age`.
    pub expires_at: i64,
    /// Set when revoked (logout, reuse detection, operator).
    pub revoked_at: Option<i64>,
    /// What signed in: an app's tokens, or a browser at Tessera's own pages.
    #[serde(default)]
    pub kind: SessionKind,
    /// The OAuth client the session's tokens were issued to, if any.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The browser sign-in an authorization code flow opened this session from, if
    /// one did: what its refreshed ID tokens say.
    #[serde(default)]
    pub browser_login: Option<BrowserLogin>,
}

/// The browser sign-in behind an app session (authorization code flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserLogin {
    /// The browser session's id (`sid` of the ID tokens).
    pub session: Uuid,
    /// When the person last typed a credential there (`auth_time`).
    pub auth_time: i64,
}

/// What a session is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionKind {
    /// Access and refresh tokens held by an app.
    #[default]
    App,
    /// A browser signed in at `/oauth/authorize` (a cookie; no tokens of its own).
    Browser,
}

impl SessionRecord {
    /// True while neither revoked nor past its maximum age.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One refresh token, stored under the SHA-256 digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The session it belongs to.
    pub session_id: Uuid,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry: issue + `refresh_ttl`, capped by the session's end.
    pub expires_at: i64,
    /// Set once the token has been exchanged; presenting it again is reuse.
    pub rotated_at: Option<i64>,
    /// The OAuth client the token is bound to, if it was issued to one; it then works
    /// only at `/oauth/token` with that client. Passes to each rotated token.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// A signing key: of access tokens (PASETO) or of ID tokens (JWS).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// PASERK id (`k4.pid.…`) of a PASETO key; the JWK thumbprint (RFC 7638) of an
    /// ID-token key.
    pub kid: String,
    /// The secret key: Ed25519 secret key (seed followed by public key, 64 bytes) for
    /// PASETO; PKCS#8 DER for ID-token keys.
    pub secret: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// When it stopped signing; `None` for the active key (one of each kind).
    pub retired_at: Option<i64>,
    /// What it signs.
    #[serde(default)]
    pub kind: KeyKind,
}

/// What a signing key signs: each key serves one protocol only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyKind {
    /// PASETO v4.public access tokens (Ed25519).
    #[default]
    Paseto,
    /// RS256 ID tokens (RSA, 2048 bits).
    IdTokenRs256,
    /// EdDSA ID tokens (Ed25519).
    IdTokenEdDsa,
}

impl KeyKind {
    /// Every kind; the daemon keeps one active key of each.
    pub const ALL: [KeyKind; 3] = [KeyKind::Paseto, KeyKind::IdTokenRs256, KeyKind::IdTokenEdDsa];

    /// The name the PostgreSQL store keeps.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Paseto => "paseto",
            KeyKind::IdTokenRs256 => "RS256",
            KeyKind::IdTokenEdDsa => "EdDSA",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("kind", &self.kind)
            .finish()
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Event time.
    pub at: i64,
    /// What happened, e.g. `login.success`, `refresh.reuse`.
    pub event: String,
    /// The account concerned (id, or the login name tried), if any.
    pub subject: Option<String>,
    /// Client address (HTTP) or `uid=N` (admin socket).
    pub origin: Option<String>,
    /// Extra context (never a secret).
    pub detail: Option<String>,
    /// The id of the HTTP request or admin call that caused it, if any.
    pub request_id: Option<String>,
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Client id, chosen by the operator.
    pub client_id: String,
    /// SHA-256 (hex) of the client secret; empty for a public client.
    pub secret_digest: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// Where the authorization code flow may send people back (exact, except any port
    /// on loopback `http`); none: the client cannot use that flow.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where `/oauth/logout` may send people back (matched like redirect URIs).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client has no secret (single-page and native apps): it may use only
    /// the authorization code and refresh grants.
    #[serde(default)]
    pub public: bool,
    /// A first-party client skips the consent page.
    #[serde(default)]
    pub first_party: bool,
    /// The secret a rotation replaced, still accepted until its end.
    #[serde(default)]
    pub retiring_secret: Option<RetiringSecret>,
    /// How its ID tokens are signed.
    #[serde(default)]
    pub id_token_alg: IdTokenAlg,
}

/// A client secret replaced by a rotation with a grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    /// SHA-256 (hex) of the replaced secret.
    pub digest: String,
    /// Unix seconds from which it is refused.
    pub until: i64,
}

/// A persistent API token, stored under the SHA-256 digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    /// Public id (for listing and deletion).
    pub id: String,
    /// Owner.
    pub user_id: Uuid,
    /// Label chosen by the owner.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
    /// Last use, as of the latest periodic write-back.
    pub last_used_at: Option<i64>,
}

/// What a link in a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkKind {
    /// Confirms an address (`tsr_ve_`).
    Verify,
    /// Sets a new password (`tsr_pr_`).
    Reset,
}

/// A link token sent by mail, stored under its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// Verification or reset.
    pub kind: LinkKind,
    /// Whose account.
    pub user_id: Uuid,
    /// The address it was sent to.
    pub email: String,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was used; kept until it expires (a used verification link answers
    /// success again while the address stays verified).
    pub used_at: Option<i64>,
}

/// An authorization code, stored under the SHA-256 digest of `tsr_ac_…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI sent to the authorization endpoint, if one was sent.
    pub redirect_uri: Option<String>,
    /// Scopes the tokens will carry.
    pub scopes: Vec<String>,
    /// Who signed in.
    pub user_id: Uuid,
    /// The browser session that signed in.
    pub browser_session: Uuid,
    /// The PKCE S256 challenge.
    pub challenge: String,
    /// When it stops working.
    pub expires_at: i64,
    /// When it was exchanged.
    pub used_at: Option<i64>,
    /// The session its exchange opened (revoked if the code comes back).
    pub session_id: Option<Uuid>,
    /// The authorization request's `nonce` (OpenID Connect), for the ID token.
    #[serde(default)]
    pub nonce: Option<String>,
    /// When the person last typed a credential in the browser session.
    #[serde(default)]
    pub auth_time: i64,
}

/// A user's second factors. Stored only for users who have one (or one pending).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorsRecord {
    /// The TOTP factor, pending until a first code confirms it.
    pub totp: Option<TotpFactor>,
    /// SHA-256 digests of the unused recovery codes.
    pub recovery: Vec<[u8; 32]>,
}

impl FactorsRecord {
    /// Whether a second factor is active (confirmed): logins then ask for it.
    pub fn active(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.confirmed)
    }
}

impl fmt::Debug for FactorsRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FactorsRecord")
            .field("totp", &self.totp.as_ref().map(|t| (t.confirmed, t.created_at)))
            .field("recovery_codes", &self.recovery.len())
            .finish()
    }
}

/// A TOTP factor (RFC 6238).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The shared secret (160 bits): kept as it is, since checking a code needs it.
    pub secret: Vec<u8>,
    /// Set once a code confirmed the enrolment.
    pub confirmed: bool,
    /// When the enrolment began.
    pub created_at: i64,
    /// The last step a code was accepted for: no step is accepted twice.
    pub last_step: i64,
}

/// A login waiting for its second factor, stored under the SHA-256 digest of its
/// `tsr_mf_` token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaTokenRecord {
    /// Whose password was right.
    pub user_id: Uuid,
    /// When it stops working.
    pub expires_at: i64,
    /// Wrong codes so far; the fifth ends it.
    pub failures: u32,
    /// The scopes an API login asked for; `None` for the login page, whose token
    /// opens a browser session instead.
    pub scopes: Option<Vec<String>>,
    /// SHA-256 of the password hash the login was checked against: a password
    /// changed meanwhile ends the waiting login.
    pub password: [u8; 32],
}

/// A user's consent to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Scopes consented to.
    pub scopes: Vec<String>,
    /// When consent was last given.
    pub granted_at: i64,
}
