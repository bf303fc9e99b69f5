//! Building JSON and empty responses (HTML pages are [`super::pages`]).

use serde::Serialize;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// Whether a response may be stored by caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// `Cache-Control: no-store` (anything with a secret or personal data).
    NoStore,
    /// No cache header.
    Default,
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T, cache: Cache) -> Response {
    let mut response = warp::reply::with_status(warp::reply::json(value), status).into_response();
    if cache == Cache::NoStore {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
            .headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// An empty response (204).
pub fn no_content() -> Response {
    let mut response = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
