//! The one place service errors become admin-protocol errors.

use crate::service::ServiceError;
use tessera_common::admin::{AdminError, ErrorCode};

/// The admin error for a service error. Internal failures are logged under a
/// reference and only the reference is sent.
pub fn admin_error(err: ServiceError) -> AdminError {
    use ServiceError as E;
    let message = err.to_string();
    match err {
        E::NotFound(_) => AdminError::new(ErrorCode::NotFound, message),
        E::UsernameTaken | E::EmailTaken | E::Conflict(_) => AdminError::new(ErrorCode::Conflict, message),
        E::InvalidRequest { .. } | E::InvalidScope(_) => AdminError::new(ErrorCode::InvalidRequest, message),
        E::Overloaded { .. } => AdminError::new(ErrorCode::Internal, "the daemon is busy; retry shortly"),
        E::Unavailable { .. } => AdminError::new(ErrorCode::Internal, "the database is unavailable; retry shortly"),
        E::Internal(detail) => {
            let reference = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(%reference, error = %detail, "internal error on the admin socket");
            AdminError::new(
                ErrorCode::Internal,
                format!("internal error; reference {reference} in the daemon's log"),
            )
        }
        E::LoginFailed
        | E::InvalidClient
        | E::PayloadTooLarge { .. }
        | E::UnsupportedMediaType
        | E::UnsupportedGrantType(_)
        | E::InvalidToken { .. }
        | E::InsufficientScope(_)
        | E::AccountDisabled
        | E::InvalidLink
        | E::UnauthorizedClient(_)
        | E::InvalidGrant(_)
        | E::EmailNotVerified
        | E::GuestDisabled
        | E::RegistrationClosed
        | E::MfaRequired { .. }
        | E::InvalidCode { .. }
        | E::InvalidMfaToken
        | E::TooManyAttempts { .. } => AdminError::new(ErrorCode::InvalidRequest, message),
    }
}
