//! Refresh rotation, access refresh, logout, `me`, expiry.

use crate::harness::{TestDaemon, s};
use serde_json::json;

#[tokio::test]
async fn rotation_kills_the_old_token() {
    let d = TestDaemon::start();
    let first = d.register("alice").await;
    let rt1 = s(&first, "refreshToken");
    let second = d.rotate(&rt1).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let second = second.json();
    let rt2 = s(&second, "refreshToken");
    assert_ne!(rt1, rt2);
    assert_eq!(second["user"]["username"], "alice");
    let me = d.get("/api/auth/me", Some(&s(&second, "accessToken"))).await;
    assert_eq!(me.status, 200);
    // Form bodies work too.
    let third = d.post_form("/api/auth/token/refresh", &[("refreshToken", &rt2)]).await;
    assert_eq!(third.status, 200, "{}", third.text);
}

#[tokio::test]
async fn reusing_a_rotated_token_revokes_the_whole_session() {
    let d = TestDaemon::start();
    let first = d.register("bob").await;
    let rt1 = s(&first, "refreshToken");
    let second = d.rotate(&rt1).await.json();
    let rt2 = s(&second, "refreshToken");
    let at2 = s(&second, "accessToken");

    let replay = d.rotate(&rt1).await;
    assert_eq!((replay.status, replay.code()), (401, "INVALID_TOKEN".into()));
    assert_eq!(
        replay.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    // The newer refresh token and every access token of the session are dead too.
    let newer = d.rotate(&rt2).await;
    assert_eq!(newer.status, 401);
    d.assert_dead(&at2).await;
    d.assert_dead(&s(&first, "accessToken")).await;
    // Another session of the same user is untouched.
    let other = d.login("bob").await;
    d.assert_live(&s(&other, "accessToken")).await;
}

#[tokio::test]
async fn unknown_or_missing_refresh_tokens() {
    let d = TestDaemon::start();
    let resp = d.rotate("tsr_rt_nope").await;
    assert_eq!((resp.status, resp.code()), (401, "INVALID_TOKEN".into()));
    d.rotate("v4.public.abc").await.expect_error(401, "INVALID_TOKEN");
    let resp = d.post_json("/api/auth/token/refresh", json!({})).await;
    assert_eq!((resp.status, resp.code()), (400, "INVALID_REQUEST".into()));
    assert_eq!(resp.json()["field"], "refreshToken");
}

#[tokio::test]
async fn access_refresh_gives_a_new_access_token_only() {
    let d = TestDaemon::start();
    let login = d.register("carol").await;
    let at = s(&login, "accessToken");
    let resp = d.post_bearer("/api/auth/refresh", &at).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = resp.json();
    assert!(body.get("refreshToken").is_none());
    let fresh = s(&body, "accessToken");
    assert_ne!(fresh, at);
    d.assert_live(&fresh).await;
    // The token may come in the body instead.
    let resp = d.post_json("/api/auth/refresh", json!({"token": at})).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let resp = d.post_json("/api/auth/refresh", json!({})).await;
    assert_eq!((resp.status, resp.header("www-authenticate")), (401, Some("Bearer")));
}

#[tokio::test]
async fn access_tokens_are_cut_to_the_session_maximum_age() {
    let d = TestDaemon::with("[tokens]\naccess_ttl = \"1h\"\nsession_max_age = \"2m\"\n");
    let login = d.register("dora").await;
    assert!(login["expiresIn"].as_u64().unwrap() <= 120, "{login}");
    let refreshed = d
        .post_bearer("/api/auth/refresh", &s(&login, "accessToken"))
        .await
        .json();
    assert!(refreshed["expiresIn"].as_u64().unwrap() <= 120, "{refreshed}");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let d = TestDaemon::start();
    let login = d.register("erin").await;
    let at = s(&login, "accessToken");
    let resp = d.post_bearer("/api/auth/logout", &at).await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert!(resp.text.is_empty());
    let me = d.get("/api/auth/me", Some(&at)).await;
    assert_eq!((me.status, me.code()), (401, "INVALID_TOKEN".into()));
    assert_eq!(me.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    let refresh = d.rotate(s(&login, "refreshToken")).await;
    assert_eq!(refresh.status, 401);
    assert_eq!(d.post_bearer("/api/auth/logout", &at).await.status, 401);
    assert_eq!(d.post_bearer("/api/auth/refresh", &at).await.status, 401);
}

#[tokio::test]
async fn me_returns_the_user_flat_with_scopes() {
    let d = TestDaemon::start();
    let login = d.register("fay").await;
    let me = d.get("/api/auth/me", Some(&s(&login, "accessToken"))).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.header("cache-control"), Some("no-store"));
    let mut expected = login["user"].clone();
    expected["scopes"] = json!(["read", "write"]);
    assert_eq!(me.json(), expected);
}

#[tokio::test]
async fn missing_and_bad_credentials_get_the_right_challenge() {
    let d = TestDaemon::start();
    let none = d.get("/api/auth/me", None).await;
    assert_eq!((none.status, none.code()), (401, "INVALID_TOKEN".into()));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let basic = d
        .send(d.client().get(d.url("/api/auth/me")).basic_auth("a", Some("b")))
        .await;
    assert_eq!(basic.header("www-authenticate"), Some("Bearer"));
    for junk in ["garbage", "v4.public.AAAA", "v4.public.eyJ9.eyJ9"] {
        let bad = d.get("/api/auth/me", Some(junk)).await;
        assert_eq!(bad.status, 401, "{junk}");
        assert_eq!(bad.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    }
    assert_eq!(d.post_bearer("/api/auth/logout", "garbage").await.status, 401);
    let resp = d.send(d.client().post(d.url("/api/auth/logout"))).await;
    assert_eq!((resp.status, resp.header("www-authenticate")), (401, Some("Bearer")));
}

#[tokio::test]
async fn a_token_from_another_daemon_is_refused() {
    let a = TestDaemon::start();
    let b = TestDaemon::start();
    let login = a.register("gus").await;
    let resp = b.get("/api/auth/me", Some(&s(&login, "accessToken"))).await;
    assert_eq!(resp.status, 401);
}

#[tokio::test]
async fn a_user_holds_at_most_a_hundred_sessions_the_oldest_go_first() {
    let d = TestDaemon::start();
    let first = d.register("lou").await;
    for _ in 0..100 {
        d.login("lou").await;
    }
    let sessions = d.tessera(&["session", "list", "lou", "--json"]).json();
    assert_eq!(sessions.as_array().unwrap().len(), 100);
    let me = d.get("/api/auth/me", Some(&s(&first, "accessToken"))).await;
    assert_eq!(me.status, 401, "the oldest session was ended");
    let newest = d.login("lou").await;
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&newest, "accessToken"))).await.status,
        200
    );
}

/// The HTTP API (docs/openapi.yaml): every answer that carries a token or says what a token is
/// has `Cache-Control: no-store`.
#[tokio::test]
async fn every_token_response_says_no_store() {
    let d = TestDaemon::with("[guest]\nenabled = true\n[oauth]\npassword_grant = true\n");
    let added = d.tessera(&["client", "add", "app", "--scopes", "read", "--json"]);
    let secret = s(&added.json(), "clientSecret");
    let login = d.register("nora").await;
    let at = s(&login, "accessToken");
    let pw = crate::harness::password("nora");
    let mut answers = vec![
        (
            "register",
            d.post_json(
                "/api/auth/register",
                json!({"username": "nina", "email": "n@example.com", "password": "12345678"}),
            )
            .await,
        ),
        (
            "token",
            d.post_json("/api/auth/token", json!({"username": "nora", "password": pw}))
                .await,
        ),
        (
            "login",
            d.post_json("/api/auth/login", json!({"username": "nora", "password": pw}))
                .await,
        ),
        ("token/refresh", d.rotate(s(&login, "refreshToken")).await),
        ("refresh", d.post_bearer("/api/auth/refresh", &at).await),
        ("guest", d.send(d.client().post(d.url("/api/auth/guest"))).await),
        ("me", d.get("/api/auth/me", Some(&at)).await),
        ("api-tokens", d.create_api_token(&at, json!({"name": "n"})).await),
    ];
    let oauth = |form: Vec<(&'static str, String)>, path: &'static str| {
        d.send(
            d.client()
                .post(d.url(path))
                .basic_auth("app", Some(&secret))
                .form(&form),
        )
    };
    answers.push((
        "oauth cc",
        oauth(vec![("grant_type", "client_credentials".into())], "/oauth/token").await,
    ));
    let password_grant = oauth(
        vec![
            ("grant_type", "password".into()),
            ("username", "nora".into()),
            ("password", crate::harness::password("nora")),
        ],
        "/oauth/token",
    )
    .await;
    let rt = s(&password_grant.json(), "refresh_token");
    answers.push(("oauth password", password_grant));
    answers.push((
        "oauth refresh",
        oauth(
            vec![("grant_type", "refresh_token".into()), ("refresh_token", rt)],
            "/oauth/token",
        )
        .await,
    ));
    answers.push((
        "introspect",
        oauth(vec![("token", at.clone())], "/oauth/introspect").await,
    ));
    for (what, resp) in answers {
        assert!(resp.status < 300, "{what}: {} {}", resp.status, resp.text);
        assert_eq!(resp.header("cache-control"), Some("no-store"), "{what}");
    }
}

/// The verified-token cache: a token seen before stops working at logout, and a copy
/// with one character changed is refused.
#[tokio::test]
async fn a_token_seen_before_dies_at_logout_and_a_near_copy_is_refused() {
    let d = TestDaemon::start();
    let login = d.register("celia").await;
    let at = s(&login, "accessToken");
    d.assert_live(&at).await;
    d.assert_live(&at).await;
    let mut near = at.clone().into_bytes();
    let last = near.len() - 120; // inside the signed part, before the footer
    near[last] = if near[last] == b'A' { b'B' } else { b'A' };
    d.assert_dead(&String::from_utf8(near).unwrap()).await;
    assert_eq!(d.post_bearer("/api/auth/logout", &at).await.status, 204);
    d.assert_dead(&at).await;
}
