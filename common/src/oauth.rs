//! JSON bodies of the OAuth 2.0 face (`/oauth/...`, snake_case per the RFCs; see docs/openapi.yaml).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Successful `POST /oauth/token` answer (RFC 6749 §5.1).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The PASETO access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A new refresh token, for the password and refresh_token grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Error answer (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    pub error: String,
    /// Human-readable text.
    pub error_description: String,
}

/// Introspection answer (RFC 7662 §2.2). Inactive tokens carry only `active: false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is live.
    pub active: bool,
    /// Subject: user id, client id or `guest:…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Username of a user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Role of a user's or guest's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// OAuth client the token was issued or is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer` (RFC 6749 §7.1, as RFC 7662 §2.2 asks) for every live token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Which kind of token it is: `access_token`, `api_token` or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    /// Expiry (NumericDate); absent for API tokens without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time (NumericDate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before (NumericDate), access tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id: the `jti` claim, or the id of an API or refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id, for session-bound tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Authorization-server metadata (RFC 8414 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The issuer.
    pub issuer: String,
    /// `GET /oauth/authorize`.
    pub authorization_endpoint: String,
    /// `POST /oauth/token`.
    pub token_endpoint: String,
    /// `POST /oauth/introspect`.
    pub introspection_endpoint: String,
    /// `POST /oauth/revoke`.
    pub revocation_endpoint: String,
    /// `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `["S256"]`: PKCE is required, and `plain` refused.
    pub code_challenge_methods_supported: Vec<String>,
    /// True: redirects from the authorization endpoint carry `iss` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Grants `/oauth/token` accepts with the current configuration.
    pub grant_types_supported: Vec<String>,
    /// Every scope of every configured role.
    pub scopes_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, and `none` (public clients).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Same as the token endpoint's.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// Same as the token endpoint's.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Where the PASERK verification keys are (`/api/auth/keys`).
    pub paseto_keys_uri: String,
}
