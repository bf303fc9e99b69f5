//! `/api/auth/api-tokens`: a user's persistent API tokens (see docs/openapi.yaml).

use super::body::{self, BodyResult};
use super::error::respond;
use super::reply::{Cache, json, no_content};
use super::{bearer, method, with_service};
use crate::service::Service;
use crate::service::api_tokens::NewApiToken;
use std::sync::Arc;
use tessera_common::api::ApiTokenList;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// Methods served on the collection.
const COLLECTION: &str = "GET, POST";

/// The API-token routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    create(Arc::clone(&service))
        .or(list(Arc::clone(&service)))
        .unify()
        .or(delete(service))
        .unify()
        .boxed()
}

/// POST /api/auth/api-tokens
fn create(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "api-tokens")
        .and(method(Method::POST, COLLECTION))
        .and(with_service(service))
        .and(bearer())
        .and(body::fields())
        .then(
            |service: Arc<Service>, bearer: Option<String>, body: BodyResult| async move {
                respond(
                    async {
                        let caller = service.authenticate(bearer.as_deref()).await?;
                        caller.require_session()?;
                        let mut f = body?;
                        let input = NewApiToken {
                            name: f.string("name")?,
                            scopes: f.scopes()?,
                            expires_in: f.integer("expiresIn")?,
                        };
                        let created = service.create_api_token(&caller, input).await?;
                        Ok(json(StatusCode::CREATED, &created, Cache::NoStore))
                    }
                    .await,
                )
            },
        )
}

/// GET /api/auth/api-tokens
fn list(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "api-tokens")
        .and(method(Method::GET, COLLECTION))
        .and(with_service(service))
        .and(bearer())
        .then(|service: Arc<Service>, bearer: Option<String>| async move {
            respond(
                async {
                    let caller = service.authenticate(bearer.as_deref()).await?;
                    let tokens = service.list_api_tokens(&caller).await?;
                    Ok(json(StatusCode::OK, &ApiTokenList { tokens }, Cache::NoStore))
                }
                .await,
            )
        })
}

/// DELETE /api/auth/api-tokens/{id}
fn delete(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "api-tokens" / String)
        .and(method(Method::DELETE, "DELETE"))
        .and(with_service(service))
        .and(bearer())
        .then(|id: String, service: Arc<Service>, bearer: Option<String>| async move {
            respond(
                async {
                    let caller = service.authenticate(bearer.as_deref()).await?;
                    service.delete_api_token(&caller, &id).await?;
                    Ok(no_content())
                }
                .await,
            )
        })
}
