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
    /// The OpenID Connect ID token (a JWS compact JWT), when `openid` was granted
    /// through the authorization code flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
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
    /// `GET|POST /oauth/userinfo` (OpenID Connect Core §5.3).
    pub userinfo_endpoint: String,
    /// `GET /oauth/jwks`: the ID-token keys (RFC 7517).
    pub jwks_uri: String,
    /// `/oauth/logout` (RP-Initiated Logout 1.0).
    pub end_session_endpoint: String,
    /// `["public"]`: `sub` is the user's id for every client.
    pub subject_types_supported: Vec<String>,
    /// `["RS256", "EdDSA"]`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `["query"]`.
    pub response_modes_supported: Vec<String>,
    /// The claims ID tokens and UserInfo may carry.
    pub claims_supported: Vec<String>,
    /// `["none", "login", "consent"]`.
    pub prompt_values_supported: Vec<String>,
    /// False: the `claims` request parameter is not supported.
    pub claims_parameter_supported: bool,
    /// False: request objects (`request`) are not supported.
    pub request_parameter_supported: bool,
    /// False: `request_uri` is not supported.
    pub request_uri_parameter_supported: bool,
}

/// How a client's ID tokens are signed (its `id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), which every OpenID Connect
    /// relying party supports.
    #[default]
    RS256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl IdTokenAlg {
    /// Both, in the order the discovery document lists them.
    pub const ALL: [IdTokenAlg; 2] = [IdTokenAlg::RS256, IdTokenAlg::EdDSA];

    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            IdTokenAlg::RS256 => "RS256",
            IdTokenAlg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for IdTokenAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for IdTokenAlg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("{s:?} is not an ID-token algorithm: RS256 or EdDSA"))
    }
}

/// The claims of an OpenID Connect ID token (Core §2) and of UserInfo (§5.3), as
/// Tessera issues them. Times are NumericDate seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    /// The issuer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The client id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub aud: String,
    /// Expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// When the person last typed a credential in the browser session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The authorization request's `nonce`, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the person signed in (RFC 8176), e.g. `["pwd"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The browser session's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Username, with `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Display name, with `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address, with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the address was verified, with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// A public key of the JWK Set (RFC 7517 §4): an RSA key (`n`, `e`) or an Ed25519
/// key (`crv`, `x`; RFC 8037). Never any private parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA` or `OKP`.
    pub kty: String,
    /// The key's id: its JWK thumbprint (RFC 7638).
    pub kid: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// `RS256` or `EdDSA`.
    pub alg: String,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Ed25519 public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
}

/// `GET /oauth/jwks`: the ID-token keys, active and retiring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}
