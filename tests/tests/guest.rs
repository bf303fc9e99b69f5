//! Guest tokens.

use crate::harness::{TestDaemon, s};
use serde_json::json;

#[tokio::test]
async fn guest_tokens_when_enabled() {
    let d = TestDaemon::with("[guest]\nenabled = true\n[roles.guest]\nscopes = [\"read\", \"preview\"]\n");
    let resp = d.send(d.client().post(d.url("/api/auth/guest"))).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = resp.json();
    assert!(body.get("refreshToken").is_none());
    assert_eq!(body["scopes"], json!(["read", "preview"]));
    let id = s(&body["user"], "id");
    assert!(id.starts_with("guest:"));
    assert_eq!(body["user"], json!({"id": id, "role": "guest"}));
    let at = s(&body, "accessToken");
    let me = d.get("/api/auth/me", Some(&at)).await;
    assert_eq!(
        me.json(),
        json!({"id": id, "role": "guest", "scopes": ["read", "preview"]})
    );
    // Guests have no session: refresh and logout need one.
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        let resp = d.post_bearer(path, &at).await;
        assert_eq!((resp.status, resp.code()), (403, "INSUFFICIENT_SCOPE".into()), "{path}");
    }
}

#[tokio::test]
async fn guest_tokens_when_disabled() {
    let d = TestDaemon::start();
    let resp = d.send(d.client().post(d.url("/api/auth/guest"))).await;
    assert_eq!((resp.status, resp.code()), (403, "GUEST_DISABLED".into()));
}
