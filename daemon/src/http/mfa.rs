//! The second-factor routes under `/api/auth/mfa` (see docs/openapi.yaml): the
//! person's factors, TOTP enrolment and removal, recovery codes, and the second step
//! of a login.

use super::auth::token_response;
use super::body::{self, BodyResult};
use super::error::respond;
use super::reply::{Cache, json, no_content};
use super::{bearer, method, origin, with_service};
use crate::service::{Origin, Service, ServiceError};
use std::sync::Arc;
use tessera_common::api::RecoveryCodes;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The `/api/auth/mfa` routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    status(Arc::clone(&service))
        .or(begin_totp(Arc::clone(&service)))
        .unify()
        .or(confirm_totp(Arc::clone(&service)))
        .unify()
        .or(remove_totp(Arc::clone(&service)))
        .unify()
        .or(recovery_codes(Arc::clone(&service)))
        .unify()
        .or(verify(service))
        .unify()
        .boxed()
}

/// GET /api/auth/mfa
fn status(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "mfa")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .and(bearer())
        .then(|service: Arc<Service>, bearer: Option<String>| async move {
            respond(
                async {
                    let caller = service.authenticate(bearer.as_deref()).await?;
                    Ok(json(
                        StatusCode::OK,
                        &service.mfa_status(&caller).await?,
                        Cache::NoStore,
                    ))
                }
                .await,
            )
        })
}

/// POST /api/auth/mfa/totp
fn begin_totp(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "mfa" / "totp")
        .and(method(Method::POST, "POST, DELETE"))
        .and(with_service(service))
        .and(bearer())
        .then(|service: Arc<Service>, bearer: Option<String>| async move {
            respond(
                async {
                    let caller = service.authenticate(bearer.as_deref()).await?;
                    Ok(json(
                        StatusCode::OK,
                        &service.begin_totp(&caller).await?,
                        Cache::NoStore,
                    ))
                }
                .await,
            )
        })
}

/// POST /api/auth/mfa/totp/confirm
fn confirm_totp(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "mfa" / "totp" / "confirm")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(bearer())
        .and(body::fields())
        .then(
            |service: Arc<Service>, origin: Origin, bearer: Option<String>, body: BodyResult| async move {
                respond(
                    async {
                        let caller = service.authenticate(bearer.as_deref()).await?;
                        let code = body?.string("code")?.ok_or_else(|| ServiceError::required("code"))?;
                        let recovery_codes = service.confirm_totp(&caller, &code, origin).await?;
                        Ok(json(StatusCode::OK, &RecoveryCodes { recovery_codes }, Cache::NoStore))
                    }
                    .await,
                )
            },
        )
}

/// DELETE /api/auth/mfa/totp
fn remove_totp(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "mfa" / "totp")
        .and(method(Method::DELETE, "POST, DELETE"))
        .and(with_service(service))
        .and(origin())
        .and(bearer())
        .and(body::fields())
        .then(
            |service: Arc<Service>, origin: Origin, bearer: Option<String>, body: BodyResult| async move {
                respond(
                    async {
                        let caller = service.authenticate(bearer.as_deref()).await?;
                        let password = body?.secret("password")?;
                        service.remove_totp(&caller, password, origin).await?;
                        Ok(no_content())
                    }
                    .await,
                )
            },
        )
}

/// POST /api/auth/mfa/recovery-codes
fn recovery_codes(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "mfa" / "recovery-codes")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(bearer())
        .and(body::fields())
        .then(
            |service: Arc<Service>, origin: Origin, bearer: Option<String>, body: BodyResult| async move {
                respond(
                    async {
                        let caller = service.authenticate(bearer.as_deref()).await?;
                        let password = body?.secret("password")?;
                        let recovery_codes = service.regenerate_recovery_codes(&caller, password, origin).await?;
                        Ok(json(StatusCode::OK, &RecoveryCodes { recovery_codes }, Cache::NoStore))
                    }
                    .await,
                )
            },
        )
}

/// POST /api/auth/mfa/verify
fn verify(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "mfa" / "verify")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(body::fields())
        .then(|service: Arc<Service>, origin: Origin, body: BodyResult| async move {
            respond(
                async {
                    let mut f = body?;
                    let (token, code) = (f.string("mfaToken")?, f.string("code")?);
                    let issued = service.verify_mfa_login(token, code, origin).await?;
                    Ok(token_response(StatusCode::OK, issued))
                }
                .await,
            )
        })
}
