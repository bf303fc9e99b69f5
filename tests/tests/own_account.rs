//! A person's own account with their session token (see README, "Your own account"):
//! the password change and their sessions.

use crate::harness::{TestDaemon, password, s};
use serde_json::json;

async fn with_bearer(
    d: &TestDaemon,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> crate::harness::Resp {
    let mut request = d.client().request(method, d.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    d.send(request).await
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_every_other_session() {
    let d = TestDaemon::start();
    let own = s(&d.register("alice").await, "accessToken");
    let other = s(&d.login("alice").await, "accessToken");
    let change = |current: &str, new: &str| {
        with_bearer(
            &d,
            reqwest::Method::POST,
            "/api/auth/password/change",
            &own,
            Some(json!({"currentPassword": current, "newPassword": new})),
        )
    };
    change("not-her-password", "a new password")
        .await
        .expect_error(401, "LOGIN_FAILED");
    let short = change(&password("alice"), "short").await;
    short.expect_error(400, "INVALID_REQUEST");
    assert_eq!(short.json()["field"], "newPassword");
    let done = change(&password("alice"), "a new password").await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json(), json!({"status": "ok"}));
    d.assert_live(&own).await;
    d.assert_dead(&other).await;
    let old = d
        .post_json(
            "/api/auth/token",
            json!({"username": "alice", "password": password("alice")}),
        )
        .await;
    old.expect_error(401, "LOGIN_FAILED");
    let new = d
        .post_json(
            "/api/auth/token",
            json!({"username": "alice", "password": "a new password"}),
        )
        .await;
    assert_eq!(new.status, 200, "{}", new.text);
    assert!(
        d.tessera(&["audit", "--limit", "10"])
            .stdout
            .contains("password.change")
    );
}

#[tokio::test]
async fn a_person_lists_and_ends_their_own_sessions_and_nobody_elses() {
    let d = TestDaemon::start();
    let own = s(&d.register("bob").await, "accessToken");
    let other = s(&d.login("bob").await, "accessToken");
    let carol = d.register("carol").await;
    let listed = with_bearer(&d, reqwest::Method::GET, "/api/auth/sessions", &own, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    let sessions = listed.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(
        sessions
            .iter()
            .all(|s| s["kind"] == "app" && s["createdAt"].is_string())
    );
    let own_sid = crate::harness::claims(&own)["sid"].clone();
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == json!(true)).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], own_sid);
    let other_sid = crate::harness::claims(&other)["sid"].as_str().unwrap().to_owned();
    let carol_sid = crate::harness::claims(&s(&carol, "accessToken"))["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    for not_mine in [carol_sid.as_str(), "0192f1e4-7c1a-7b3e-9f5d-2a6c8e0b4d13", "junk"] {
        with_bearer(
            &d,
            reqwest::Method::DELETE,
            &format!("/api/auth/sessions/{not_mine}"),
            &own,
            None,
        )
        .await
        .expect_error(404, "NOT_FOUND");
    }
    d.assert_live(&s(&carol, "accessToken")).await;
    let ended = with_bearer(
        &d,
        reqwest::Method::DELETE,
        &format!("/api/auth/sessions/{other_sid}"),
        &own,
        None,
    )
    .await;
    assert_eq!(ended.status, 204, "{}", ended.text);
    d.assert_dead(&other).await;
    d.assert_live(&own).await;

    // An app's token (authorization code flow) may not act on the account itself.
    let app = crate::oidc::oidc_client(&d, "app", "openid read", &["--first-party"]);
    let browser = crate::authorize::Browser::new(&d);
    let tokens = crate::oidc::code_flow(&d, &browser, &app, "&scope=read", "bob").await;
    let app_token = s(&tokens, "access_token");
    with_bearer(&d, reqwest::Method::GET, "/api/auth/sessions", &app_token, None)
        .await
        .expect_error(403, "INSUFFICIENT_SCOPE");
    with_bearer(
        &d,
        reqwest::Method::POST,
        "/api/auth/password/change",
        &app_token,
        Some(json!({"currentPassword": password("bob"), "newPassword": "stolen by an app"})),
    )
    .await
    .expect_error(403, "INSUFFICIENT_SCOPE");
}
