//! Secrets stay out of logs; floods are refused, not queued without bound.

use crate::harness::{TestDaemon, s};
use serde_json::json;

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::launch(dir, "", &[("TESSERA_LOG", "debug")]);
    let login = d.register("alice").await;
    let rotated = d.rotate(s(&login, "refreshToken")).await.json();
    let replay = d.rotate(s(&login, "refreshToken")).await;
    assert_eq!(replay.status, 401);
    d.post_json(
        "/api/auth/token",
        json!({"username": "alice", "password": "a-wrong-guess"}),
    )
    .await;
    // API tokens, client secrets, the OAuth endpoints and passwords typed at the console.
    // (The replay above ended the first session: a new one makes the API token.)
    let fresh = d.login("alice").await;
    let api = d
        .create_api_token(&s(&fresh, "accessToken"), json!({"name": "ci"}))
        .await
        .json();
    let client = d
        .tessera(&["client", "add", "app", "--scopes", "read", "--json"])
        .json();
    let client_secret = s(&client, "clientSecret");
    let oauth = |path: &str, form: &[(&str, &str)]| {
        let request = d.client().post(d.url(path)).basic_auth("app", Some(&client_secret));
        d.send(request.form(form))
    };
    let cc = oauth("/oauth/token", &[("grant_type", "client_credentials")])
        .await
        .json();
    let cc_token = s(&cc, "access_token");
    oauth("/oauth/introspect", &[("token", &s(&api, "token"))]).await;
    oauth("/oauth/revoke", &[("token", &cc_token)]).await;
    let add = d.tessera_stdin(
        &["user", "add", "bob", "--email", "bob@example.com", "--password-stdin"],
        "console-password-one\n",
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    let set = d.tessera_stdin(
        &["user", "set-password", "bob", "--password-stdin"],
        "console-password-two\n",
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(d.wait_for_log("path=\"/oauth/revoke\""), "the last request is logged");
    let logs = d.logs();
    assert!(logs.contains("/api/auth/token/refresh"), "requests are logged: {logs}");
    for secret in [
        "password-of-alice".to_owned(),
        "a-wrong-guess".to_owned(),
        s(&login, "refreshToken"),
        s(&login, "accessToken"),
        s(&rotated, "refreshToken"),
        s(&rotated, "accessToken"),
        s(&api, "token"),
        client_secret.clone(),
        cc_token,
        "console-password-one".to_owned(),
        "console-password-two".to_owned(),
    ] {
        assert!(!logs.contains(&secret), "a secret is in the log");
    }
    for prefix in ["tsr_rt_", "tsr_at_", "tsr_cs_"] {
        assert!(!logs.contains(prefix), "no {prefix} secret in the log");
    }
}

#[tokio::test]
async fn a_login_flood_gets_503_with_retry_after() {
    // Expensive hashes so the bounded queue fills; the throttle is set out of the way.
    let d = TestDaemon::with("[argon2]\nmemory_kib = 32768\niterations = 4\n[throttle]\nmax_failures = 1000\n");
    let url = d.url("/api/auth/token");
    let mut attempts = Vec::new();
    for i in 0..300 {
        let request = d
            .client()
            .post(url.clone())
            .json(&json!({"username": format!("u{i}"), "password": "not-the-password"}));
        attempts.push(tokio::spawn(request.send()));
    }
    let mut overloaded = 0;
    for attempt in attempts {
        let response = attempt.await.unwrap().unwrap();
        match response.status().as_u16() {
            401 => {}
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"], "OVERLOADED");
                overloaded += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(overloaded > 0, "some of 300 simultaneous logins were refused");
    assert_eq!(d.get("/healthz", None).await.status, 200, "still serving");
}
