//! The OpenID Connect routes: discovery (OpenID Connect Discovery 1.0), the ID-token
//! keys (RFC 7517) and UserInfo (OpenID Connect Core §5.3). The authorization and
//! token endpoints are the OAuth ones.

use super::error::bearer_error;
use super::reply::{Cache, json};
use super::{bearer, method, with_service};
use crate::service::{Service, ServiceError};
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// How long relying parties may cache the JWK Set: a rotated key is published at
/// once, and a retiring key stays long after this.
const JWKS_MAX_AGE: u32 = 300;

/// The OpenID Connect routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    discovery(Arc::clone(&service))
        .or(jwks(Arc::clone(&service)))
        .unify()
        .or(userinfo(service))
        .unify()
        .boxed()
}

/// GET /.well-known/openid-configuration
fn discovery(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!(".well-known" / "openid-configuration")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .map(|service: Arc<Service>| json(StatusCode::OK, &service.metadata(), Cache::Default))
}

/// GET /oauth/jwks
fn jwks(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "jwks")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .map(|service: Arc<Service>| json(StatusCode::OK, &service.jwks(), Cache::Public(JWKS_MAX_AGE)))
}

/// GET /oauth/userinfo and POST /oauth/userinfo
fn userinfo(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("oauth" / "userinfo")
        .and(
            method(Method::GET, "GET, POST")
                .or(method(Method::POST, "GET, POST"))
                .unify(),
        )
        .and(with_service(service))
        .and(bearer())
        .then(|service: Arc<Service>, bearer: Option<String>| async move {
            let answer: Result<Response, ServiceError> = async {
                let caller = service.authenticate(bearer.as_deref()).await?;
                Ok(json(StatusCode::OK, &service.userinfo(caller).await?, Cache::NoStore))
            }
            .await;
            answer.unwrap_or_else(|e| bearer_error(&e))
        })
}
