//! Routing errors, body limits and content types.

use crate::harness::TestDaemon;
use serde_json::json;
use std::io::{Read, Write};

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let d = TestDaemon::start();
    for path in ["/", "/nope", "/api/auth", "/api/auth/me/extra", "/api/auth/registerx"] {
        let resp = d.get(path, None).await;
        assert_eq!((resp.status, resp.code()), (404, "NOT_FOUND".into()), "{path}");
    }
    let resp = d.get("/api/auth/register", None).await;
    assert_eq!((resp.status, resp.code()), (405, "METHOD_NOT_ALLOWED".into()));
    assert_eq!(resp.header("allow"), Some("POST"));
    let resp = d.send(d.client().delete(d.url("/api/auth/me"))).await;
    assert_eq!((resp.status, resp.header("allow")), (405, Some("GET")));
    let resp = d.send(d.client().post(d.url("/api/auth/keys"))).await;
    assert_eq!((resp.status, resp.header("allow")), (405, Some("GET")));
    let resp = d.send(d.client().put(d.url("/api/auth/login"))).await;
    assert_eq!((resp.status, resp.header("allow")), (405, Some("POST")));
}

fn padded(len: usize) -> String {
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(len - 10));
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn body_limit_is_exactly_64_kib() {
    let d = TestDaemon::start();
    let at_limit = d
        .send(
            d.client()
                .post(d.url("/api/auth/register"))
                .header("content-type", "application/json")
                .body(padded(65_536)),
        )
        .await;
    assert_eq!(
        (at_limit.status, at_limit.code()),
        (400, "INVALID_REQUEST".into()),
        "read, then judged on its fields"
    );
    let over = d
        .send(
            d.client()
                .post(d.url("/api/auth/register"))
                .header("content-type", "application/json")
                .body(padded(65_537)),
        )
        .await;
    assert_eq!((over.status, over.code()), (413, "PAYLOAD_TOO_LARGE".into()));
}

/// Sends a chunked request with no Content-Length over a raw socket; returns the
/// status code and body.
fn chunked(base: &str, path: &str, body: &[u8]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(4096) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn chunked_bodies_are_capped_not_refused() {
    let d = TestDaemon::start();
    let ok = json!({"username": "chunky", "email": "c@example.com", "password": "12345678"}).to_string();
    let (status, _) = chunked(&d.base, "/api/auth/register", ok.as_bytes());
    assert_eq!(status, 201, "a chunked body without a length is read (never 411)");
    let (status, body) = chunked(&d.base, "/api/auth/register", padded(70_000).as_bytes());
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("PAYLOAD_TOO_LARGE"), "{body}");
}

#[tokio::test]
async fn content_types_and_malformed_bodies() {
    let d = TestDaemon::start();
    let post = |ct: &'static str, body: &'static str| {
        d.client()
            .post(d.url("/api/auth/token"))
            .header("content-type", ct)
            .body(body)
    };
    let resp = d.send(post("text/plain", "username=a")).await;
    assert_eq!((resp.status, resp.code()), (415, "UNSUPPORTED_MEDIA_TYPE".into()));
    let resp = d.send(post("application/xml", "<a/>")).await;
    assert_eq!((resp.status, resp.code()), (415, "UNSUPPORTED_MEDIA_TYPE".into()));
    let resp = d.send(post("application/json", "{not json")).await;
    assert_eq!((resp.status, resp.code()), (400, "INVALID_REQUEST".into()));
    let resp = d.send(post("application/json", "[1,2]")).await;
    assert_eq!((resp.status, resp.code()), (400, "INVALID_REQUEST".into()));
    let resp = d
        .send(post(
            "application/json",
            "{\"username\": {\"x\": 1}, \"password\": \"12345678\"}",
        ))
        .await;
    assert_eq!((resp.status, resp.json()["field"].clone()), (400, json!("username")));
    let resp = d.send(post("application/x-www-form-urlencoded", "%%%")).await;
    assert_eq!(
        (resp.status, resp.code()),
        (400, "INVALID_REQUEST".into()),
        "{}",
        resp.text
    );
    let resp = d
        .send(d.client().post(d.url("/api/auth/token")).body("username=a"))
        .await;
    assert_eq!(resp.status, 415, "a body with no content type");
    // Unknown JSON fields are ignored.
    d.register("known").await;
    let resp = d
        .post_json(
            "/api/auth/token",
            json!({"username": "known", "password": "password-of-known", "extra": [1, {"a": null}]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
}

#[tokio::test]
async fn healthz_answers_ok() {
    let d = TestDaemon::start();
    let resp = d.get("/healthz", None).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn thousands_of_scopes_are_refused_at_once() {
    let d = TestDaemon::start();
    d.register("sam").await;
    // As many distinct short scopes as fit in a 64 KiB body.
    let many: Vec<String> = (0..8_000).map(|i| format!("{i:x}")).collect();
    let resp = d
        .post_json(
            "/api/auth/token",
            serde_json::json!({"username": "sam", "password": crate::harness::password("sam"), "scopes": many}),
        )
        .await;
    assert_eq!(
        (resp.status, resp.code()),
        (400, "INVALID_SCOPE".to_owned()),
        "{}",
        resp.text
    );
    let client = d
        .tessera(&["client", "add", "svc", "--scopes", "read", "--json"])
        .json();
    let secret = client["clientSecret"].as_str().unwrap().to_owned();
    let resp = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .basic_auth("svc", Some(secret))
                .form(&[("grant_type", "client_credentials"), ("scope", &many.join(" "))]),
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.json()["error"], "invalid_scope");
}
