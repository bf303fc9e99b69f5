//! CORS for browser apps on other origins (`[http] cors_allowed_origins`). Off by
//! default: without origins no CORS header is ever sent. With them, a preflight
//! (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed origin
//! to a known route is answered 204 with the methods that route takes (its `Allow`
//! list, so one table serves both), and every answer to an allowed origin carries
//! `Access-Control-Allow-Origin` and exposes the headers a client needs to read.
//! `Access-Control-Allow-Credentials` is never sent, so `*` is safe: a browser sends
//! no cookie cross-origin with these headers (only the sign-in pages read cookies, and
//! they are forms a browser navigates to, not calls a script makes).

use hyper::body::Incoming;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "3600";
/// Request headers a cross-origin script may send.
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";
/// Response headers a cross-origin script may read beyond the safelisted ones.
const EXPOSE_HEADERS: &str = "www-authenticate, retry-after, x-request-id";

/// The allowed origins.
#[derive(Debug, Clone)]
pub struct Cors {
    /// `*`: every origin.
    any: bool,
    /// Exact origins, lower-cased.
    origins: Vec<String>,
}

/// What a request asked, read before it is handed on.
#[derive(Debug)]
pub struct Asked {
    /// The value for `Access-Control-Allow-Origin`, when the origin is allowed.
    allow: Option<HeaderValue>,
    /// An `OPTIONS` preflight.
    preflight: bool,
}

impl Cors {
    /// The policy for `origins` (validated by the configuration); `None` when empty.
    pub fn new(origins: &[String]) -> Option<Self> {
        (!origins.is_empty()).then(|| Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins.to_vec(),
        })
    }

    /// Reads the request's `Origin` and whether it is a preflight.
    pub fn ask(&self, request: &hyper::Request<Incoming>) -> Asked {
        self.ask_headers(request.method(), request.headers())
    }

    fn ask_headers(&self, method: &Method, headers: &HeaderMap) -> Asked {
        let allow = headers.get(header::ORIGIN).and_then(|origin| {
            if self.any {
                Some(HeaderValue::from_static("*"))
            } else {
                let text = origin.to_str().ok()?.to_ascii_lowercase();
                self.origins.contains(&text).then(|| origin.clone())
            }
        });
        let preflight = method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        Asked { allow, preflight }
    }

    /// Adds the CORS headers to `response`; a preflight from an allowed origin to a
    /// known route (answered 405 with its `Allow` list) becomes a 204.
    pub fn answer(&self, asked: Asked, response: &mut Response) {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
        let Some(origin) = asked.allow else {
            return;
        };
        let methods = response.headers().get(header::ALLOW).cloned();
        if asked.preflight
            && response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some(methods) = methods
        {
            let mut preflight = Response::default();
            *preflight.status_mut() = StatusCode::NO_CONTENT;
            let headers = preflight.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
            headers.insert(header::VARY, HeaderValue::from_static("origin"));
            *response = preflight;
            return;
        }
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}
