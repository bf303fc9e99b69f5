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
    /// `Cache-Control: public, max-age=N` (published keys).
    Public(u32),
}

/// A JSON response, its body ending with a newline (so that answers printed one after
/// another in a terminal stay on lines of their own).
pub fn json<T: Serialize>(status: StatusCode, value: &T, cache: Cache) -> Response {
    let mut body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "could not encode a JSON answer");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    body.push(b'\n');
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match cache {
        Cache::NoStore => {
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        Cache::Public(seconds) => {
            if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
                response.headers_mut().insert(header::CACHE_CONTROL, value);
            }
        }
        Cache::Default => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn json_answers_are_one_line_ending_in_a_newline() {
        let response = json(StatusCode::CREATED, &serde_json::json!({"a": 1}), Cache::NoStore);
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"{\"a\":1}\n");
    }
}
