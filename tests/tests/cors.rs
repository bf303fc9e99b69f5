//! CORS (`[http] cors_allowed_origins`): preflights from allowed origins are answered
//! with the route's methods, real answers to allowed origins carry the CORS headers,
//! and nothing changes for other origins, for requests without `Origin`, or without
//! the setting.

use crate::harness::{Resp, TestDaemon, s};
use reqwest::Method;
use serde_json::json;

const APP: &str = "https://app.example";

/// One route per family, with the methods it takes.
const ROUTES: [(&str, &str); 7] = [
    ("/api/auth/token", "POST"),
    ("/api/auth/me", "GET"),
    ("/api/auth/api-tokens", "GET, POST"),
    ("/api/auth/keys", "GET"),
    ("/oauth/token", "POST"),
    ("/oauth/introspect", "POST"),
    ("/.well-known/oauth-authorization-server", "GET"),
];

async fn preflight(d: &TestDaemon, path: &str, origin: &str) -> Resp {
    let request = d
        .client()
        .request(Method::OPTIONS, d.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type");
    d.send(request).await
}

#[tokio::test]
async fn preflights_from_an_allowed_origin_get_each_routes_methods() {
    let d = TestDaemon::with(&format!("[http]\ncors_allowed_origins = [{APP:?}]\n"));
    for (path, methods) in ROUTES {
        let r = preflight(&d, path, APP).await;
        assert_eq!(r.status, 204, "{path}: {}", r.text);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP), "{path}");
        assert_eq!(r.header("access-control-allow-methods"), Some(methods), "{path}");
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("authorization, content-type, x-request-id"),
            "{path}"
        );
        assert!(r.header("access-control-max-age").is_some(), "{path}");
        assert_eq!(r.header("vary"), Some("origin"), "{path}");
        let other = preflight(&d, path, "https://evil.example").await;
        assert_eq!(other.status, 405, "{path}: another origin gets no preflight");
        assert_eq!(other.header("access-control-allow-origin"), None, "{path}");
    }
    assert_eq!(preflight(&d, "/nowhere", APP).await.status, 404);
}

#[tokio::test]
async fn answers_carry_cors_headers_for_allowed_origins_only() {
    let d = TestDaemon::with(&format!("[http]\ncors_allowed_origins = [{APP:?}]\n"));
    let login = d.register("alice").await;
    let me = |origin: Option<&'static str>| {
        let mut request = d
            .client()
            .get(d.url("/api/auth/me"))
            .bearer_auth(s(&login, "accessToken"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        d.send(request)
    };
    let allowed = me(Some(APP)).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        allowed.header("access-control-expose-headers"),
        Some("www-authenticate, retry-after, x-request-id")
    );
    assert_eq!(allowed.header("vary"), Some("origin"));
    for origin in [Some("https://evil.example"), None] {
        let r = me(origin).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin:?}");
        assert_eq!(r.header("access-control-expose-headers"), None, "{origin:?}");
    }
    // Errors too: a script must be able to read a 401 and its WWW-Authenticate.
    let denied = d
        .send(d.client().get(d.url("/api/auth/me")).header("origin", APP))
        .await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.header("access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn a_star_allows_every_origin_without_credentials() {
    let d = TestDaemon::with("[http]\ncors_allowed_origins = [\"*\"]\n");
    let r = preflight(&d, "/oauth/token", "https://anyone.example").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let body = json!({"username": "nobody", "password": "wrong-password"});
    let failed = d
        .send(
            d.client()
                .post(d.url("/api/auth/token"))
                .header("origin", "https://anyone.example")
                .json(&body),
        )
        .await;
    assert_eq!(failed.status, 401);
    assert_eq!(failed.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn without_the_setting_nothing_is_cors() {
    let d = TestDaemon::start();
    let r = preflight(&d, "/api/auth/token", APP).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    for name in ["access-control-allow-origin", "access-control-allow-methods", "vary"] {
        assert_eq!(r.header(name), None, "{name}");
    }
}
