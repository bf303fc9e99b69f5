//! JSON bodies of the app-facing HTTP API (`/api/auth/...`, camelCase; see docs/openapi.yaml).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The `user` object of a registered account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// Account id (UUID).
    pub id: String,
    /// Username, in the case it was registered with.
    pub username: String,
    /// Email address, in the case it was registered with.
    pub email: String,
    /// Display name; defaults to the username.
    pub display_name: String,
    /// Role name (`admin`, `user`, … as configured).
    pub role: String,
    /// Whether the address has been verified.
    pub email_verified: bool,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

/// The `user` object of a guest token: only an id and the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestView {
    /// `guest:<random>`.
    pub id: String,
    /// Always the guest role.
    pub role: String,
}

/// Who a token speaks for: an account or a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Principal {
    /// A registered account.
    User(UserView),
    /// An anonymous guest.
    Guest(GuestView),
}

/// Answer of register, login, refresh and guest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The PASETO v4.public access token.
    pub access_token: String,
    /// A new refresh token (`tsr_rt_…`); absent for guests and `POST /api/auth/refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
    /// Scopes granted to the access token.
    pub scopes: Vec<String>,
    /// The account or guest the token speaks for.
    pub user: Principal,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .field("user", &self.user)
            .finish()
    }
}

/// Answer of `GET /api/auth/me`: the user fields flat, plus the token's scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeResponse {
    /// The account or guest.
    #[serde(flatten)]
    pub user: Principal,
    /// Scopes of the presented token.
    pub scopes: Vec<String>,
}

/// Whether a published key still signs or only verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new tokens.
    Active,
    /// Replaced; verifies tokens it signed until they have all expired.
    Retiring,
}

/// One published verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// PASERK id (`k4.pid.…`), the `kid` in token footers.
    pub kid: String,
    /// PASERK public key (`k4.public.…`).
    pub paserk: String,
    /// Always `v4`.
    pub version: String,
    /// Always `public`.
    pub purpose: String,
    /// Active or retiring.
    pub status: KeyStatus,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

/// Answer of `GET /api/auth/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysResponse {
    /// Every key that can verify a live token.
    pub keys: Vec<KeyView>,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenView {
    /// Public id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Expiry, RFC 3339, or `null` for none.
    pub expires_at: Option<String>,
    /// Last use, RFC 3339 (may lag by up to 60 s), or `null` if never used.
    pub last_used_at: Option<String>,
}

/// Answer of `POST /api/auth/api-tokens`: the only time the secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenCreated {
    /// Public id.
    pub id: String,
    /// Label.
    pub name: String,
    /// The secret, `tsr_at_…`.
    pub token: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Expiry, RFC 3339, or `null` for none.
    pub expires_at: Option<String>,
}

impl fmt::Debug for ApiTokenCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTokenCreated")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Answer of `GET /api/auth/api-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenList {
    /// The caller's tokens.
    pub tokens: Vec<ApiTokenView>,
}

impl std::fmt::Debug for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorBody")
            .field("error", &self.error)
            .field("message", &self.message)
            .field("field", &self.field)
            .field("mfa_token", &self.mfa_token.as_ref().map(|_| "<redacted>"))
            .field("methods", &self.methods)
            .finish()
    }
}

/// One of the person's own sessions (`GET /api/auth/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnSession {
    /// Session id.
    pub id: String,
    /// `app` (tokens an app holds) or `browser` (signed in at the sign-in pages).
    pub kind: String,
    /// The app the session's tokens were issued to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Scopes granted at login.
    pub scopes: Vec<String>,
    /// Login time, RFC 3339.
    pub created_at: String,
    /// Hard end, RFC 3339.
    pub expires_at: String,
    /// Whether the request came with this session's token.
    pub current: bool,
}

/// `GET /api/auth/mfa`: the person's second factors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaStatus {
    /// Whether TOTP is active.
    pub totp: bool,
    /// Passkeys (WebAuthn).
    pub passkeys: Vec<PasskeyView>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: usize,
}

/// A passkey, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    /// Its id.
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last use, RFC 3339.
    pub last_used_at: Option<String>,
}

/// `POST /api/auth/mfa/totp`: the secret to put in an authenticator app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpSetup {
    /// The secret, base32.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetup").finish_non_exhaustive()
    }
}

/// Recovery codes, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// `xxxxx-xxxxx`, each usable once.
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("count", &self.recovery_codes.len())
            .finish()
    }
}

/// Every error body: `{"error": "CODE", "message": "…", "field"?: "…"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code from the contract's list (`LOGIN_FAILED`, …).
    pub error: String,
    /// Human-readable text.
    pub message: String,
    /// The offending request field, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `MFA_REQUIRED`: the token for `POST /api/auth/mfa/verify`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "mfaToken")]
    pub mfa_token: Option<String>,
    /// With `MFA_REQUIRED`: the second factors the person may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserView {
        UserView {
            id: "0b7c".into(),
            username: "alice".into(),
            email: "a@example.com".into(),
            display_name: "Alice".into(),
            role: "user".into(),
            email_verified: false,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn token_response_golden_json() {
        let resp = TokenResponse {
            access_token: "v4.public.x".into(),
            refresh_token: None,
            expires_in: 3600,
            token_type: "Bearer".into(),
            scopes: vec!["read".into()],
            user: Principal::Guest(GuestView {
                id: "guest:abc".into(),
                role: "guest".into(),
            }),
        };
        let json = serde_json::to_string(&resp).expect("serialises");
        assert_eq!(
            json,
            r#"{"accessToken":"v4.public.x","expiresIn":3600,"tokenType":"Bearer","scopes":["read"],"user":{"id":"guest:abc","role":"guest"}}"#
        );
        assert!(!format!("{resp:?}").contains("v4.public.x"));
    }

    #[test]
    fn me_is_flat_and_round_trips() {
        let me = MeResponse {
            user: Principal::User(alice()),
            scopes: vec!["read".into()],
        };
        let json = serde_json::to_string(&me).expect("serialises");
        assert_eq!(
            json,
            r#"{"id":"0b7c","username":"alice","email":"a@example.com","displayName":"Alice","role":"user","emailVerified":false,"createdAt":"2026-01-01T00:00:00Z","scopes":["read"]}"#
        );
        let back: MeResponse = serde_json::from_str(&json).expect("MeResponse parses its own JSON");
        assert_eq!(back, me);
    }

    #[test]
    fn error_body_omits_absent_field() {
        let body = ErrorBody {
            mfa_token: None,
            methods: None,
            error: "NOT_FOUND".into(),
            message: "no such route".into(),
            field: None,
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serialises"),
            r#"{"error":"NOT_FOUND","message":"no such route"}"#
        );
    }
}
