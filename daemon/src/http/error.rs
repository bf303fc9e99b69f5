//! The one place errors become HTTP responses: service errors in the contract's
//! `{"error","message","field"?}` shape (§2) or, on `/oauth`, the RFC 6749 §5.2 shape;
//! and warp's own rejections (unknown route, wrong method).

use super::reply::{self, Cache};
use crate::service::ServiceError;
use std::convert::Infallible;
use tessera_common::api::ErrorBody;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// A method the route does not serve; carries the route's `Allow` value.
#[derive(Debug)]
pub struct WrongMethod(pub &'static str);
impl warp::reject::Reject for WrongMethod {}

fn body(status: StatusCode, code: &str, message: impl Into<String>, field: Option<&str>) -> Response {
    let body = ErrorBody {
        error: code.to_owned(),
        message: message.into(),
        field: field.map(str::to_owned),
        mfa_token: None,
        methods: None,
    };
    reply::json(status, &body, Cache::NoStore)
}

fn with_header(mut response: Response, name: header::HeaderName, value: String) -> Response {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// The response for an app-facing handler's outcome.
pub fn respond(result: Result<Response, ServiceError>) -> Response {
    result.unwrap_or_else(|e| service_error(&e))
}

/// The response for a service error.
pub fn service_error(err: &ServiceError) -> Response {
    use ServiceError as E;
    let message = err.to_string();
    match err {
        E::InvalidRequest { field, .. } => body(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, *field),
        E::InvalidScope(_) => body(StatusCode::BAD_REQUEST, "INVALID_SCOPE", message, None),
        // OAuth-only outcomes; the app-facing routes never produce them.
        E::InvalidClient | E::UnsupportedGrantType(_) | E::UnauthorizedClient(_) | E::InvalidGrant(_) => {
            body(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message, None)
        }
        E::LoginFailed => body(StatusCode::UNAUTHORIZED, "LOGIN_FAILED", message, None),
        E::InvalidToken { presented } => {
            let challenge = if *presented {
                "Bearer error=\"invalid_token\""
            } else {
                "Bearer"
            };
            with_header(
                body(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", message, None),
                header::WWW_AUTHENTICATE,
                challenge.into(),
            )
        }
        E::InsufficientScope(_) => body(StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE", message, None),
        E::AccountDisabled => body(StatusCode::FORBIDDEN, "ACCOUNT_DISABLED", message, None),
        E::InvalidLink => body(StatusCode::BAD_REQUEST, "INVALID_LINK", message, None),
        E::EmailNotVerified => body(StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED", message, None),
        E::GuestDisabled => body(StatusCode::FORBIDDEN, "GUEST_DISABLED", message, None),
        E::RegistrationClosed => body(StatusCode::FORBIDDEN, "REGISTRATION_CLOSED", message, None),
        E::NotFound(_) => body(StatusCode::NOT_FOUND, "NOT_FOUND", message, None),
        E::PayloadTooLarge { .. } => body(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message, None),
        E::UnsupportedMediaType => body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
            None,
        ),
        E::Conflict(_) => body(StatusCode::CONFLICT, "CONFLICT", message, None),
        E::MfaRequired { token, methods } => {
            let body = ErrorBody {
                error: "MFA_REQUIRED".into(),
                message,
                field: None,
                mfa_token: Some(token.expose().to_owned()),
                methods: Some(methods.iter().map(|m| (*m).to_owned()).collect()),
            };
            reply::json(StatusCode::UNAUTHORIZED, &body, Cache::NoStore)
        }
        E::InvalidCode { at_login: true } => body(StatusCode::UNAUTHORIZED, "INVALID_CODE", message, Some("code")),
        E::InvalidCode { at_login: false } => body(StatusCode::BAD_REQUEST, "INVALID_CODE", message, Some("code")),
        E::InvalidMfaToken => body(StatusCode::UNAUTHORIZED, "INVALID_MFA_TOKEN", message, Some("mfaToken")),
        E::UsernameTaken => body(StatusCode::CONFLICT, "USERNAME_TAKEN", message, Some("username")),
        E::EmailTaken => body(StatusCode::CONFLICT, "EMAIL_TAKEN", message, Some("email")),
        E::TooManyAttempts { retry_after } => with_header(
            body(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS", message, None),
            header::RETRY_AFTER,
            retry_after.as_secs().max(1).to_string(),
        ),
        E::Overloaded { retry_after } | E::Unavailable { retry_after } => with_header(
            body(StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED", message, None),
            header::RETRY_AFTER,
            retry_after.as_secs().max(1).to_string(),
        ),
        E::Internal(detail) => body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("internal error; reference {}", log_internal(detail)),
            None,
        ),
    }
}

/// Logs an internal failure under a fresh reference, which is all the client sees.
fn log_internal(detail: &str) -> String {
    let reference = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(%reference, error = %detail, "internal error");
    reference
}

/// The RFC 6749 §5.2 response for a service error on the `/oauth` routes.
pub fn oauth_error(err: &ServiceError) -> Response {
    use ServiceError as E;
    let oauth = |status: StatusCode, code: &str, description: String| {
        let body = tessera_common::oauth::ErrorResponse {
            error: code.to_owned(),
            error_description: description,
        };
        reply::json(status, &body, Cache::NoStore)
    };
    let message = err.to_string();
    match err {
        E::InvalidClient => with_header(
            oauth(StatusCode::UNAUTHORIZED, "invalid_client", message),
            header::WWW_AUTHENTICATE,
            "Basic realm=\"tessera\"".into(),
        ),
        E::LoginFailed | E::InvalidToken { .. } | E::AccountDisabled | E::EmailNotVerified => oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            match err {
                E::InvalidToken { .. } => {
                    "the refresh token is invalid, expired, revoked or bound to another client".into()
                }
                _ => message,
            },
        ),
        E::InvalidScope(_) => oauth(StatusCode::BAD_REQUEST, "invalid_scope", message),
        E::UnauthorizedClient(_) => oauth(StatusCode::BAD_REQUEST, "unauthorized_client", message),
        E::InvalidGrant(_) => oauth(StatusCode::BAD_REQUEST, "invalid_grant", message),
        E::UnsupportedGrantType(_) => oauth(StatusCode::BAD_REQUEST, "unsupported_grant_type", message),
        E::PayloadTooLarge { .. } => oauth(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", message),
        E::UnsupportedMediaType => oauth(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request", message),
        E::TooManyAttempts { retry_after } => with_header(
            oauth(StatusCode::TOO_MANY_REQUESTS, "invalid_grant", message),
            header::RETRY_AFTER,
            retry_after.as_secs().max(1).to_string(),
        ),
        E::Overloaded { retry_after } | E::Unavailable { retry_after } => with_header(
            oauth(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", message),
            header::RETRY_AFTER,
            retry_after.as_secs().max(1).to_string(),
        ),
        E::Internal(detail) => oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("internal error; reference {}", log_internal(detail)),
        ),
        E::MfaRequired { .. } => oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "a second factor is required: use the authorization code flow".into(),
        ),
        E::InvalidRequest { .. }
        | E::InvalidCode { .. }
        | E::InvalidMfaToken
        | E::InsufficientScope(_)
        | E::GuestDisabled
        | E::RegistrationClosed
        | E::NotFound(_)
        | E::Conflict(_)
        | E::UsernameTaken
        | E::EmailTaken
        | E::InvalidLink => oauth(StatusCode::BAD_REQUEST, "invalid_request", message),
    }
}

/// The response for a service error at a resource that takes a Bearer token on the
/// OAuth side (UserInfo): the RFC 6750 §3 challenges, with an RFC 6749 §5.2 body.
pub fn bearer_error(err: &ServiceError) -> Response {
    use ServiceError as E;
    let (status, code, challenge) = match err {
        E::InvalidToken { presented: false } => (StatusCode::UNAUTHORIZED, "invalid_token", "Bearer"),
        E::InvalidToken { presented: true } => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Bearer error=\"invalid_token\"",
        ),
        E::InsufficientScope(_) => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        ),
        _ => return oauth_error(err),
    };
    let body = tessera_common::oauth::ErrorResponse {
        error: code.to_owned(),
        error_description: err.to_string(),
    };
    with_header(
        reply::json(status, &body, Cache::NoStore),
        header::WWW_AUTHENTICATE,
        challenge.into(),
    )
}

/// Turns warp's rejections (no route, wrong method, bad header) into contract errors.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    if rejection.is_not_found() {
        return Ok(body(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint", None));
    }
    if let Some(WrongMethod(allow)) = rejection.find::<WrongMethod>() {
        let response = body(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("use {allow}"),
            None,
        );
        return Ok(with_header(response, header::ALLOW, (*allow).to_owned()));
    }
    tracing::debug!(?rejection, "request rejected");
    Ok(body(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "malformed request",
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parts(response: Response) -> (StatusCode, warp::http::HeaderMap) {
        (response.status(), response.headers().clone())
    }

    #[test]
    fn every_service_error_has_its_status_and_headers() {
        let cases: Vec<(ServiceError, u16)> = vec![
            (
                ServiceError::InvalidRequest {
                    field: Some("email"),
                    message: "x".into(),
                },
                400,
            ),
            (ServiceError::InvalidScope("x".into()), 400),
            (ServiceError::LoginFailed, 401),
            (ServiceError::InvalidToken { presented: false }, 401),
            (ServiceError::InsufficientScope("x"), 403),
            (ServiceError::AccountDisabled, 403),
            (ServiceError::GuestDisabled, 403),
            (ServiceError::RegistrationClosed, 403),
            (ServiceError::NotFound("x".into()), 404),
            (ServiceError::PayloadTooLarge { limit: 1 }, 413),
            (ServiceError::UnsupportedMediaType, 415),
            (ServiceError::UsernameTaken, 409),
            (ServiceError::EmailTaken, 409),
            (
                ServiceError::TooManyAttempts {
                    retry_after: Duration::from_secs(4),
                },
                429,
            ),
            (
                ServiceError::Overloaded {
                    retry_after: Duration::from_secs(1),
                },
                503,
            ),
            (ServiceError::Internal("disk on fire".into()), 500),
        ];
        for (err, status) in cases {
            let (got, headers) = parts(service_error(&err));
            assert_eq!(got.as_u16(), status, "{err:?}");
            if status == 429 {
                assert_eq!(headers[header::RETRY_AFTER], "4");
            }
        }
        let (_, headers) = parts(service_error(&ServiceError::InvalidToken { presented: false }));
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        let (_, headers) = parts(service_error(&ServiceError::InvalidToken { presented: true }));
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"");
    }
}
