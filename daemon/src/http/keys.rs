//! `GET /api/auth/keys`: the PASERK public keys that verify access tokens.

use super::reply::{Cache, json};
use super::{method, with_service};
use crate::service::Service;
use std::sync::Arc;
use tessera_common::api::KeysResponse;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

/// The key routes.
pub fn routes(service: Arc<Service>) -> BoxedFilter<(Response,)> {
    keys(service).boxed()
}

/// GET /api/auth/keys
fn keys(service: Arc<Service>) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "auth" / "keys")
        .and(method(Method::GET, "GET"))
        .and(with_service(service))
        .map(|service: Arc<Service>| json(StatusCode::OK, &KeysResponse { keys: service.keys() }, Cache::Default))
}
