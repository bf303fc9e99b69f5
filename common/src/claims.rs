//! The access-token payload: PASETO registered claims plus Tessera's own (see docs/decisions.md).

use serde::{Deserialize, Serialize};

/// Claims carried by every Tessera access token. Times are RFC 3339 strings, as the
/// PASETO specification registers `iat`, `nbf` and `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the daemon's configured `server.issuer`.
    pub iss: String,
    /// Subject: a user id, a client id, or `guest:<random>`.
    pub sub: String,
    /// Issued at (RFC 3339).
    pub iat: String,
    /// Not before (RFC 3339).
    pub nbf: String,
    /// Expiry (RFC 3339).
    pub exp: String,
    /// Token id, unique per token.
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Role of a user or guest token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Session the token belongs to (user tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Username of a user token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// OAuth client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The token footer: the PASERK id of the signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    /// `k4.pid.…` of the key that signed the token.
    pub kid: String,
}
