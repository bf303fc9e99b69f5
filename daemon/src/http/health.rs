//! `GET /healthz`.

use super::reply::{Cache, json};
use super::{method, with_service};
use crate::service::Service;
use std::sync::Arc;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

/// The health route.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    healthz(service).boxed()
}

/// GET /healthz
fn healthz(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::path!("healthz")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .map(|service: Arc<Service>| {
            if service.is_healthy() {
                json(StatusCode::OK, &serde_json::json!({"status": "ok"}), Cache::NoStore)
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"status": "unavailable"}),
                    Cache::NoStore,
                )
            }
        })
}
