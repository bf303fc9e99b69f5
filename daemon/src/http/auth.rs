//! The app-facing account and session routes under `/api/auth` (see docs/openapi.yaml).

use super::body::{self, BodyResult};
use super::error::{respond, service_error};
use super::reply::{Cache, json, no_content};
use super::{bearer, method, origin, with_service};
use crate::service::accounts::{Login, Registered, Registration};
use crate::service::sessions::RefreshBy;
use crate::service::{Issued, Origin, Service, ServiceError};
use std::sync::Arc;
use tessera_common::api::TokenResponse;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The `/api/auth` account and session routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    register(Arc::clone(&service))
        .or(token(Arc::clone(&service)))
        .unify()
        .or(rotate(Arc::clone(&service)))
        .unify()
        .or(refresh(Arc::clone(&service)))
        .unify()
        .or(guest(Arc::clone(&service)))
        .unify()
        .or(logout(Arc::clone(&service)))
        .unify()
        .or(me(service))
        .unify()
        .boxed()
}

pub(super) fn token_response(status: StatusCode, issued: Issued) -> Response {
    // Every app-facing grant speaks for a user or guest.
    let Some(user) = issued.principal else {
        return service_error(&ServiceError::Internal("app-facing grant without a principal".into()));
    };
    let body = TokenResponse {
        access_token: issued.access_token,
        refresh_token: issued.refresh_token.map(|s| s.expose().to_owned()),
        expires_in: issued.expires_in,
        token_type: "Bearer".into(),
        scopes: issued.scopes,
        user,
    };
    json(status, &body, Cache::NoStore)
}

/// POST /api/auth/register
fn register(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "register")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(body::fields())
        .then(register_user)
        .map(respond)
}

async fn register_user(service: Arc<Service>, origin: Origin, body: BodyResult) -> Result<Response, ServiceError> {
    let mut f = body?;
    let input = Registration {
        username: f.string("username")?,
        email: f.string("email")?,
        password: f.secret("password")?,
        display_name: f.string("displayName")?,
    };
    Ok(match service.register(input, origin).await? {
        Registered::Session(issued) => token_response(StatusCode::CREATED, issued),
        Registered::Unverified(user) => json(
            StatusCode::CREATED,
            &serde_json::json!({"user": user, "verificationRequired": true}),
            Cache::NoStore,
        ),
    })
}

/// POST /api/auth/token (alias POST /api/auth/login)
fn token(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "token")
        .or(warp::path!("api" / "auth" / "login"))
        .unify()
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(body::fields())
        .then(log_in)
        .map(respond)
}

async fn log_in(service: Arc<Service>, origin: Origin, body: BodyResult) -> Result<Response, ServiceError> {
    let mut f = body?;
    let username = f.string("username")?;
    let email = f.string("email")?;
    let input = Login {
        login: username.or(email),
        password: f.secret("password")?,
        scopes: f.scopes()?,
        client: None,
    };
    Ok(token_response(StatusCode::OK, service.login(input, origin).await?))
}

/// POST /api/auth/token/refresh
fn rotate(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "token" / "refresh")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(body::fields())
        .then(rotate_refresh_token)
        .map(respond)
}

async fn rotate_refresh_token(
    service: Arc<Service>,
    origin: Origin,
    body: BodyResult,
) -> Result<Response, ServiceError> {
    let token = body?.secret("refreshToken")?;
    Ok(token_response(
        StatusCode::OK,
        service.rotate_refresh(token, origin, RefreshBy::App).await?,
    ))
}

/// POST /api/auth/refresh
fn refresh(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "refresh")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(bearer())
        .and(body::fields())
        .then(refresh_access)
        .map(respond)
}

async fn refresh_access(
    service: Arc<Service>,
    bearer: Option<String>,
    body: BodyResult,
) -> Result<Response, ServiceError> {
    let token = match bearer {
        Some(token) => Some(token),
        None => body?.string("token")?,
    };
    let caller = service.authenticate(token.as_deref()).await?;
    Ok(token_response(StatusCode::OK, service.refresh_access(caller).await?))
}

/// POST /api/auth/guest
fn guest(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "guest")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .map(|service: Arc<Service>| respond(service.guest().map(|issued| token_response(StatusCode::OK, issued))))
}

/// POST /api/auth/logout
fn logout(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "logout")
        .and(method(Method::POST, "POST"))
        .and(with_service(service))
        .and(origin())
        .and(bearer())
        .then(log_out)
        .map(respond)
}

async fn log_out(service: Arc<Service>, origin: Origin, bearer: Option<String>) -> Result<Response, ServiceError> {
    let caller = service.authenticate(bearer.as_deref()).await?;
    service.logout(caller, origin).await?;
    Ok(no_content())
}

/// GET /api/auth/me
fn me(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "me")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .and(bearer())
        .then(|service: Arc<Service>, bearer: Option<String>| async move {
            respond(
                async {
                    let caller = service.authenticate(bearer.as_deref()).await?;
                    let me = service.me(&caller).await?;
                    Ok(json(StatusCode::OK, &me, Cache::NoStore))
                }
                .await,
            )
        })
}
