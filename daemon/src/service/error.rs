//! What an operation can fail with: one variant per contract outcome. The HTTP layer
//! and the admin socket each map these to their wire codes in one place
//! (`http::error`, `admin::error`).

use crate::auth::password::PasswordError;
use crate::store::StoreError;
use crate::tokens::TokenError;
use std::time::Duration;

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
    /// OAuth `unauthorized_client`: this client may not use this grant.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// OAuth `invalid_grant` outside of a login: a bad, used, expired or misbound
    /// authorization code.
    #[error("{0}")]
    InvalidGrant(String),
    /// OAuth `unsupported_grant_type`.
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// 403 `INSUFFICIENT_SCOPE`: wrong kind of token for this operation.
    #[error("{0}")]
    InsufficientScope(&'static str),
    /// 400 `INVALID_LINK`: an unknown, used or expired link token.
    #[error("this link is invalid, used or expired; ask for a new one")]
    InvalidLink,
    /// 403 `EMAIL_NOT_VERIFIED` (only after a correct password).
    #[error("confirm your email address first: follow the link sent to it, or ask for a new one")]
    EmailNotVerified,
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
    #[error("too many attempts; retry later")]
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
    /// 503 `OVERLOADED`: the database cannot be reached (or, on a shared store, this
    /// daemon has not heard from it for too long to check a token).
    #[error("the database is unavailable; retry shortly")]
    Unavailable {
        /// When to retry.
        retry_after: Duration,
    },
    /// 401 `MFA_REQUIRED`: the password was right; a second factor is needed, sent
    /// with the token to `POST /api/auth/mfa/verify`.
    #[error("a second factor is required")]
    MfaRequired {
        /// The `tsr_mf_` token.
        token: crate::secret::Secret,
        /// What the person may use: `totp`, `recovery`.
        methods: Vec<&'static str>,
    },
    /// `INVALID_CODE`: 401 for a login's second factor, 400 for a confirmation.
    #[error("that code is not valid")]
    InvalidCode {
        /// Whether it came with a login (401) rather than an enrolment (400).
        at_login: bool,
    },
    /// 401 `INVALID_MFA_TOKEN`: unknown, used, expired or worn out by wrong codes.
    #[error("this sign-in expired or was used; log in again")]
    InvalidMfaToken,
    /// Something failed inside the daemon; never the client's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// 400 `INVALID_REQUEST` about `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::InvalidRequest {
            field: Some(field),
            message: message.into(),
        }
    }

    /// 400 `INVALID_REQUEST`: `field` is missing.
    pub fn required(field: &'static str) -> Self {
        Self::invalid(field, format!("{field} is required"))
    }

    /// 400 `INVALID_REQUEST` about the request as a whole.
    pub fn malformed(message: impl Into<String>) -> Self {
        ServiceError::InvalidRequest {
            field: None,
            message: message.into(),
        }
    }
}

/// How long a client is asked to wait while the database is unavailable.
pub const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) | StoreError::CommitUnknown(detail) => {
                tracing::warn!(error = %detail, "the database is unavailable");
                ServiceError::Unavailable {
                    retry_after: UNAVAILABLE_RETRY,
                }
            }
            other => ServiceError::Internal(other.to_string()),
        }
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
    /// [`super::Service::authenticate`] instead.
    fn from(e: TokenError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<getrandom::Error> for ServiceError {
    fn from(e: getrandom::Error) -> Self {
        ServiceError::Internal(format!("random source: {e}"))
    }
}
