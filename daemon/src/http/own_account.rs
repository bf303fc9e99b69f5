//! The person's own account with their session token (see docs/openapi.yaml): the
//! password change and their sessions.

use super::body::{self, BodyResult};
use super::error::respond;
use super::reply::{Cache, json, no_content};
use super::{bearer, method, origin, with_service};
use crate::service::{Origin, Service};
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The own-account routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    change_password(Arc::clone(&service))
        .or(sessions(Arc::clone(&service)))
        .unify()
        .or(end_session(service))
        .unify()
        .boxed()
}

/// POST /api/auth/password/change
fn change_password(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "password" / "change")
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
                        let mut f = body?;
                        let (current, new) = (f.secret("currentPassword")?, f.secret("newPassword")?);
                        service.change_password(&caller, current, new, origin).await?;
                        Ok(json(
                            StatusCode::OK,
                            &serde_json::json!({"status": "ok"}),
                            Cache::NoStore,
                        ))
                    }
                    .await,
                )
            },
        )
}

/// GET /api/auth/sessions
fn sessions(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "sessions")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .and(bearer())
        .then(|service: Arc<Service>, bearer: Option<String>| async move {
            respond(
                async {
                    let caller = service.authenticate(bearer.as_deref()).await?;
                    let sessions = service.own_sessions(&caller).await?;
                    Ok(json(
                        StatusCode::OK,
                        &serde_json::json!({ "sessions": sessions }),
                        Cache::NoStore,
                    ))
                }
                .await,
            )
        })
}

/// DELETE /api/auth/sessions/{id}
fn end_session(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "auth" / "sessions" / String)
        .and(method(Method::DELETE, "DELETE"))
        .and(with_service(service))
        .and(origin())
        .and(bearer())
        .then(
            |id: String, service: Arc<Service>, origin: Origin, bearer: Option<String>| async move {
                respond(
                    async {
                        let caller = service.authenticate(bearer.as_deref()).await?;
                        service.end_own_session(&caller, &id, origin).await?;
                        Ok(no_content())
                    }
                    .await,
                )
            },
        )
}
