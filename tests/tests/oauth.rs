//! The OAuth 2.0 face: grants, errors, introspection, revocation, metadata.

use crate::harness::{Resp, TestDaemon, claims, password, s};
use serde_json::{Value, json};

/// Registers a client from the console; returns (id, secret).
pub(crate) fn client(d: &TestDaemon, id: &str, scopes: &str) -> (String, String) {
    let out = d.tessera(&["client", "add", id, "--scopes", scopes, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (id.to_owned(), s(&out.json(), "clientSecret"))
}

pub(crate) async fn post(d: &TestDaemon, path: &str, form: &[(&str, &str)], basic: Option<&(String, String)>) -> Resp {
    let mut request = d.client().post(d.url(path)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    d.send(request).await
}

pub(crate) async fn introspect(d: &TestDaemon, by: &(String, String), token: &str) -> Value {
    let resp = post(d, "/oauth/introspect", &[("token", token)], Some(by)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json()
}

#[tokio::test]
async fn client_credentials_by_basic_and_by_body() {
    let d = TestDaemon::start();
    let app = client(&d, "reports", "read write");
    let resp = post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&app)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(
        (resp.header("cache-control"), resp.header("pragma")),
        (Some("no-store"), Some("no-cache"))
    );
    let body = resp.json();
    assert_eq!(
        (body["token_type"].clone(), body["scope"].clone()),
        (json!("Bearer"), json!("read write"))
    );
    assert!(body.get("refresh_token").is_none());
    let c = claims(&s(&body, "access_token"));
    assert_eq!(
        (c["sub"].clone(), c["client_id"].clone()),
        (json!("reports"), json!("reports"))
    );
    assert!(c.get("role").is_none() && c.get("sid").is_none());
    let me = d.get("/api/auth/me", Some(&s(&body, "access_token"))).await;
    assert_eq!(
        (me.status, me.code()),
        (403, "INSUFFICIENT_SCOPE".into()),
        "a client token speaks for no user"
    );

    let narrowed = post(
        &d,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "reports"),
            ("client_secret", &app.1),
            ("scope", "read"),
        ],
        None,
    )
    .await;
    assert_eq!(narrowed.json()["scope"], "read", "{}", narrowed.text);
    let wider = post(
        &d,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("scope", "read admin")],
        Some(&app),
    )
    .await;
    assert_eq!((wider.status, wider.code()), (400, "invalid_scope".into()));
    // JSON bodies are accepted too.
    let json_body = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .basic_auth("reports", Some(&app.1))
                .json(&json!({"grant_type": "client_credentials"})),
        )
        .await;
    assert_eq!(json_body.status, 200, "{}", json_body.text);
}

#[tokio::test]
async fn every_token_endpoint_error() {
    let d = TestDaemon::start();
    let app = client(&d, "app", "read");
    let wrong = ("app".to_owned(), "tsr_cs_wrong".to_owned());
    let unknown = ("nobody".to_owned(), app.1.clone());
    for creds in [&wrong, &unknown] {
        let resp = post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(creds)).await;
        assert_eq!((resp.status, resp.code()), (401, "invalid_client".into()));
        assert!(resp.header("www-authenticate").unwrap().starts_with("Basic"));
    }
    let none = post(&d, "/oauth/token", &[("grant_type", "client_credentials")], None).await;
    assert_eq!((none.status, none.code()), (401, "invalid_client".into()));
    let malformed = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .header("authorization", "Basic !!!")
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
    malformed.expect_error(401, "invalid_client");
    assert!(malformed.header("www-authenticate").unwrap().starts_with("Basic"));
    let id_only = post(
        &d,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("client_id", "app")],
        None,
    )
    .await;
    id_only.expect_error(401, "invalid_client");
    assert!(id_only.header("www-authenticate").unwrap().starts_with("Basic"));
    let two_methods = post(
        &d,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("client_secret", &app.1)],
        Some(&app),
    )
    .await;
    assert_eq!(
        (two_methods.status, two_methods.code()),
        (400, "invalid_request".into())
    );
    let missing = post(&d, "/oauth/token", &[], Some(&app)).await;
    assert_eq!((missing.status, missing.code()), (400, "invalid_request".into()));
    // A client without a redirect URI cannot use the authorization code grant.
    let no_redirect = post(&d, "/oauth/token", &[("grant_type", "authorization_code")], Some(&app)).await;
    assert_eq!(no_redirect.code(), "unauthorized_client");
    let implicit = post(&d, "/oauth/token", &[("grant_type", "implicit")], Some(&app)).await;
    assert_eq!(implicit.code(), "unsupported_grant_type");
    let password = post(
        &d,
        "/oauth/token",
        &[("grant_type", "password"), ("username", "a"), ("password", "b")],
        None,
    )
    .await;
    assert_eq!(password.code(), "unsupported_grant_type", "off by default (RFC 9700)");
    let no_refresh = post(&d, "/oauth/token", &[("grant_type", "refresh_token")], None).await;
    assert_eq!(no_refresh.code(), "invalid_request");
    let bad_refresh = post(
        &d,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "tsr_rt_x")],
        None,
    )
    .await;
    assert_eq!((bad_refresh.status, bad_refresh.code()), (400, "invalid_grant".into()));
    let plain = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .header("content-type", "text/plain")
                .body("grant_type=password"),
        )
        .await;
    assert_eq!(
        (plain.status, plain.code()),
        (415, "invalid_request".into()),
        "body errors in the RFC shape"
    );
    for resp in [&implicit, &bad_refresh] {
        assert!(resp.json()["error_description"].is_string());
    }
}

#[tokio::test]
async fn password_grant_when_enabled_binds_refresh_tokens_to_the_client() {
    let d = TestDaemon::with("[oauth]\npassword_grant = true\n");
    d.register("alice").await;
    let app = client(&d, "mobile", "read");
    let other = client(&d, "other", "read");
    let pw = password("alice");
    let wrong = post(
        &d,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "nope-nope"),
        ],
        None,
    )
    .await;
    assert_eq!(wrong.code(), "invalid_grant");
    let by_email = post(
        &d,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "alice@example.com"),
            ("password", &pw),
            ("scope", "read"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (by_email.status, by_email.json()["scope"].clone()),
        (200, json!("read")),
        "{}",
        by_email.text
    );

    let bound = post(
        &d,
        "/oauth/token",
        &[("grant_type", "password"), ("username", "alice"), ("password", &pw)],
        Some(&app),
    )
    .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    let rt = s(&bound.json(), "refresh_token");
    let grant = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    for (who, creds) in [("no client", None), ("another client", Some(&other))] {
        let resp = post(&d, "/oauth/token", &grant, creds).await;
        assert_eq!(resp.code(), "invalid_grant", "{who}");
    }
    let app_facing = d.rotate(&rt).await;
    app_facing.expect_error(401, "INVALID_TOKEN");
    assert_eq!(introspect(&d, &app, &rt).await["client_id"], "mobile");
    let rotated = post(&d, "/oauth/token", &grant, Some(&app)).await;
    assert_eq!(rotated.status, 200, "still valid for its own client: {}", rotated.text);
    let next = s(&rotated.json(), "refresh_token");
    let again = post(
        &d,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
        None,
    )
    .await;
    assert_eq!(again.code(), "invalid_grant", "the binding passes to rotated tokens");
}

#[tokio::test]
async fn refresh_grant_shares_rotation_and_reuse_detection() {
    let d = TestDaemon::start();
    let login = d.register("bob").await;
    let rt = s(&login, "refreshToken");
    let wider = post(
        &d,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "read admin"),
        ],
        None,
    )
    .await;
    assert_eq!(wider.code(), "invalid_scope");
    let resp = post(
        &d,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "read"),
        ],
        None,
    )
    .await;
    assert_eq!(
        resp.status, 200,
        "an /api/auth refresh token works without a client: {}",
        resp.text
    );
    let body = resp.json();
    assert_eq!(body["scope"], "read");
    assert_eq!(claims(&s(&body, "access_token"))["scope"], "read");
    let replay = post(
        &d,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        None,
    )
    .await;
    assert_eq!(replay.code(), "invalid_grant");
    let newer = d.rotate(s(&body, "refresh_token")).await;
    assert_eq!(newer.status, 401, "reuse revoked the session, across both doors");
}

#[tokio::test]
async fn introspection_of_every_token_type_and_state() {
    let d = TestDaemon::with("[guest]\nenabled = true\n");
    let rs = client(&d, "resource-server", "read");
    let login = d.register("carol").await;
    let at = s(&login, "accessToken");
    let rt = s(&login, "refreshToken");

    let no_client = post(&d, "/oauth/introspect", &[("token", &at)], None).await;
    assert_eq!((no_client.status, no_client.code()), (401, "invalid_client".into()));
    let missing = post(&d, "/oauth/introspect", &[], Some(&rs)).await;
    assert_eq!(missing.code(), "invalid_request");

    let live = introspect(&d, &rs, &at).await;
    assert_eq!(live["active"], true);
    assert_eq!(
        (
            live["token_type"].clone(),
            live["token_use"].clone(),
            live["username"].clone(),
            live["role"].clone()
        ),
        (json!("Bearer"), json!("access_token"), json!("carol"), json!("user"))
    );
    for key in ["sub", "scope", "exp", "iat", "nbf", "jti", "sid", "iss"] {
        assert!(!live[key].is_null(), "{key} in {live}");
    }
    assert!(live["exp"].is_i64(), "NumericDate seconds");

    let refresh = introspect(&d, &rs, &rt).await;
    assert_eq!(
        (
            refresh["active"].clone(),
            refresh["token_type"].clone(),
            refresh["token_use"].clone()
        ),
        (json!(true), json!("Bearer"), json!("refresh_token"))
    );
    assert!(refresh["jti"].is_string() && refresh["sid"] == live["sid"]);

    let api = d.create_api_token(&at, json!({"name": "n"})).await.json();
    let api_live = introspect(&d, &rs, &s(&api, "token")).await;
    assert_eq!(
        (
            api_live["active"].clone(),
            api_live["token_type"].clone(),
            api_live["token_use"].clone()
        ),
        (json!(true), json!("Bearer"), json!("api_token"))
    );
    assert!(api_live.get("exp").is_none(), "no expiry, no exp");
    assert_eq!(api_live["jti"], api["id"]);

    let cc = s(
        &post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&rs))
            .await
            .json(),
        "access_token",
    );
    let cc_live = introspect(&d, &rs, &cc).await;
    assert_eq!(
        (cc_live["client_id"].clone(), cc_live.get("role")),
        (json!("resource-server"), None)
    );

    let guest = s(
        &d.send(d.client().post(d.url("/api/auth/guest"))).await.json(),
        "accessToken",
    );
    assert_eq!(introspect(&d, &rs, &guest).await["role"], "guest");

    // Tampered, foreign, garbage: inactive, and nothing else said.
    let mut tampered = at.clone().into_bytes();
    tampered[15] = if tampered[15] == b'A' { b'B' } else { b'A' };
    let foreign = s(&TestDaemon::start().register("xavier").await, "accessToken");
    for dead in [
        String::from_utf8(tampered).unwrap(),
        foreign,
        "garbage".into(),
        "tsr_rt_nope".into(),
        "tsr_at_nope".into(),
    ] {
        assert_eq!(introspect(&d, &rs, &dead).await, json!({"active": false}), "{dead}");
    }

    // Rotated refresh token, deleted API token, revoked session: inactive. (Expiry is
    // a rule of the service, tested on its manual clock.)
    let rotated = d.rotate(&rt).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let next = rotated.json();
    assert_eq!(introspect(&d, &rs, &rt).await, json!({"active": false}));
    assert_eq!(d.tessera(&["token", "revoke", &s(&api, "id")]).code, 0);
    assert_eq!(introspect(&d, &rs, &s(&api, "token")).await, json!({"active": false}));
    assert_eq!(
        d.post_bearer("/api/auth/logout", &s(&next, "accessToken")).await.status,
        204
    );
    assert_eq!(
        introspect(&d, &rs, &s(&next, "refreshToken")).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn revocation_of_each_token_type() {
    let d = TestDaemon::start();
    let rs = client(&d, "rs", "read");
    let login = d.register("dave").await;
    let (at, rt) = (s(&login, "accessToken"), s(&login, "refreshToken"));

    // Access token: denied at once, by its holder with no client.
    let resp = post(
        &d,
        "/oauth/revoke",
        &[("token", &at), ("token_type_hint", "access_token")],
        None,
    )
    .await;
    assert_eq!((resp.status, resp.json()), (200, json!({})));
    d.assert_dead(&at).await;
    assert_eq!(introspect(&d, &rs, &at).await["active"], false);
    // The session itself lives on: its refresh token still works.
    let next = d.rotate(&rt).await.json();
    let at2 = s(&next, "accessToken");
    d.assert_live(&at2).await;

    // Refresh token: the whole session goes, access tokens too.
    let resp = post(&d, "/oauth/revoke", &[("token", &s(&next, "refreshToken"))], Some(&rs)).await;
    assert_eq!(resp.status, 200);
    d.assert_dead(&at2).await;

    // API token: deleted.
    let at3 = s(&d.login("dave").await, "accessToken");
    let api = s(&d.create_api_token(&at3, json!({"name": "n"})).await.json(), "token");
    assert_eq!(post(&d, "/oauth/revoke", &[("token", &api)], None).await.status, 200);
    d.assert_dead(&api).await;

    // Unknown tokens are fine; a malformed request or bad client is not.
    assert_eq!(
        post(&d, "/oauth/revoke", &[("token", "whatever")], None).await.status,
        200
    );
    let missing = post(&d, "/oauth/revoke", &[], None).await;
    assert_eq!((missing.status, missing.code()), (400, "invalid_request".into()));
    let bad = post(
        &d,
        "/oauth/revoke",
        &[("token", "x")],
        Some(&("rs".into(), "tsr_cs_wrong".into())),
    )
    .await;
    assert_eq!((bad.status, bad.code()), (401, "invalid_client".into()));

    // A revoked access token stays revoked across a restart.
    let d = d.crash_restart();
    d.assert_dead(&at).await;
    d.assert_live(&at3).await;
}

#[tokio::test]
async fn metadata_describes_the_server() {
    let d = TestDaemon::start();
    let resp = d.get("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(resp.status, 200);
    let m = resp.json();
    let issuer = s(&m, "issuer");
    assert_eq!(issuer, crate::harness::ISSUER);
    assert_eq!(m["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(m["introspection_endpoint"], format!("{issuer}/oauth/introspect"));
    assert_eq!(m["revocation_endpoint"], format!("{issuer}/oauth/revoke"));
    assert_eq!(m["paseto_keys_uri"], format!("{issuer}/api/auth/keys"));
    assert_eq!(m["authorization_endpoint"], format!("{issuer}/oauth/authorize"));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], json!(true));
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        m["scopes_supported"],
        json!(["admin", "email", "offline_access", "openid", "profile", "read", "write"]),
        "the roles' scopes and the OpenID Connect ones"
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    let with_password = TestDaemon::with("[oauth]\npassword_grant = true\n");
    let m = with_password
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "password", "refresh_token", "client_credentials"])
    );
}

#[tokio::test]
async fn a_removed_clients_tokens_stop_working() {
    let d = TestDaemon::start();
    let app = client(&d, "gone", "read");
    let rs = client(&d, "rs", "read");
    let token = s(
        &post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&app))
            .await
            .json(),
        "access_token",
    );
    assert_eq!(introspect(&d, &rs, &token).await["active"], true);
    assert_eq!(d.tessera(&["client", "remove", "gone"]).code, 0);
    assert_eq!(introspect(&d, &rs, &token).await["active"], false);
    let resp = post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&app)).await;
    assert_eq!(resp.code(), "invalid_client");
}

#[tokio::test]
async fn a_client_added_again_under_the_same_id_does_not_revive_the_old_ones_tokens() {
    let d = TestDaemon::with("[oauth]\npassword_grant = true\n");
    d.register("alice").await;
    let rs = client(&d, "rs", "read");
    let old = client(&d, "phoenix", "read");
    let access = s(
        &post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&old))
            .await
            .json(),
        "access_token",
    );
    let pw = password("alice");
    let granted = post(
        &d,
        "/oauth/token",
        &[("grant_type", "password"), ("username", "alice"), ("password", &pw)],
        Some(&old),
    )
    .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let refresh = s(&granted.json(), "refresh_token");
    // Removed and added again at once, most likely within the same second.
    assert_eq!(d.tessera(&["client", "remove", "phoenix"]).code, 0);
    let new = client(&d, "phoenix", "read");
    assert_eq!(introspect(&d, &rs, &access).await["active"], false);
    let resp = post(
        &d,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some(&new),
    )
    .await;
    assert_eq!(resp.code(), "invalid_grant", "{}", resp.text);
    // The new client's own tokens work.
    let fresh = s(
        &post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&new))
            .await
            .json(),
        "access_token",
    );
    assert_eq!(introspect(&d, &rs, &fresh).await["active"], true);
}

#[tokio::test]
async fn clients_carry_redirect_uris_and_the_public_and_first_party_flags() {
    let d = TestDaemon::start();
    let spa = d.tessera(&[
        "client",
        "add",
        "spa",
        "--scopes",
        "read",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--redirect-uri",
        "com.example.app:/cb",
        "--json",
    ]);
    assert_eq!(spa.code, 0, "{}", spa.stderr);
    assert!(
        spa.json().get("clientSecret").is_none(),
        "a public client has no secret"
    );
    let web = d.tessera(&[
        "client",
        "add",
        "web",
        "--scopes",
        "read write",
        "--first-party",
        "--redirect-uri",
        "https://web.example.com/cb",
        "--post-logout-redirect-uri",
        "https://web.example.com/bye",
    ]);
    assert_eq!(web.code, 0, "{}", web.stderr);
    assert!(web.stdout.contains("tsr_cs_"));
    let listed = d.tessera(&["client", "list", "--json"]).json();
    assert_eq!(
        listed,
        json!([
            {"clientId": "spa", "scopes": ["read"], "createdAt": listed[0]["createdAt"],
             "redirectUris": ["http://127.0.0.1/cb", "com.example.app:/cb"],
             "postLogoutRedirectUris": [], "public": true, "firstParty": false,
             "idTokenSignedResponseAlg": "RS256"},
            {"clientId": "web", "scopes": ["read", "write"], "createdAt": listed[1]["createdAt"],
             "redirectUris": ["https://web.example.com/cb"],
             "postLogoutRedirectUris": ["https://web.example.com/bye"], "public": false, "firstParty": true,
             "idTokenSignedResponseAlg": "RS256"},
        ])
    );
    let table = d.tessera(&["client", "list"]).stdout;
    assert!(
        table.contains("public") && table.contains("confidential first-party"),
        "{table}"
    );
    for (bad, says) in [
        ("http://app.example.com/cb", "loopback"),
        ("https://app.example.com/cb#x", "fragment"),
        ("myapp:/cb", "reversed domain"),
    ] {
        let refused = d.tessera(&["client", "add", "bad", "--scopes", "read", "--redirect-uri", bad]);
        assert_eq!(refused.code, 1, "{bad}");
        assert!(refused.stderr.contains(says), "{bad}: {}", refused.stderr);
    }
    let no_uri = d.tessera(&["client", "add", "bad", "--scopes", "read", "--public"]);
    assert_eq!(no_uri.code, 1);
    assert!(no_uri.stderr.contains("redirect URI"), "{}", no_uri.stderr);
    // A public client cannot use the client-credentials grant.
    let resp = post(
        &d,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("client_id", "spa")],
        None,
    )
    .await;
    assert_eq!(resp.code(), "unauthorized_client", "{}", resp.text);
}

#[tokio::test]
async fn tessera_client_rotate_secret_replaces_it_at_once_or_after_a_grace() {
    let d = TestDaemon::start();
    let first = client(&d, "svc", "read");
    let grant = async |secret: &str| {
        let by = ("svc".to_owned(), secret.to_owned());
        post(&d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&by))
            .await
            .status
    };
    assert_eq!(grant(&first.1).await, 200);
    let rotate = |extra: &[&str]| {
        let out = d.tessera(&[&["client", "rotate-secret", "svc", "--json"], extra].concat());
        assert_eq!(out.code, 0, "{}", out.stderr);
        let created = out.json();
        assert_eq!(
            (&created["clientId"], &created["scopes"]),
            (&json!("svc"), &json!(["read"]))
        );
        s(&created, "clientSecret")
    };
    let second = rotate(&[]);
    assert_ne!(second, first.1);
    assert_eq!(grant(&first.1).await, 401, "the old secret stops at once");
    assert_eq!(grant(&second).await, 200);
    let third = rotate(&["--grace", "1h"]);
    assert_eq!(grant(&second).await, 200, "still, during the grace");
    assert_eq!(grant(&third).await, 200);
    let human = d.tessera(&["client", "rotate-secret", "svc"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("client secret  tsr_cs_"), "{}", human.stdout);
    assert_eq!(
        grant(&second).await,
        401,
        "a rotation without grace drops the retiring one"
    );
    assert_eq!(grant(&third).await, 401);
    // Refused: too long a grace, a malformed one, an unknown client, a public one.
    let long = d.tessera(&["client", "rotate-secret", "svc", "--grace", "31d"]);
    assert_eq!(long.code, 1, "{}", long.stderr);
    assert!(long.stderr.contains("30 days"), "{}", long.stderr);
    assert_eq!(
        d.tessera(&["client", "rotate-secret", "svc", "--grace", "soon"]).code,
        2
    );
    assert_eq!(d.tessera(&["client", "rotate-secret", "nobody"]).code, 1);
    let public = d.tessera(&[
        "client",
        "add",
        "spa",
        "--public",
        "--scopes",
        "read",
        "--redirect-uri",
        "https://app.example/cb",
    ]);
    assert_eq!(public.code, 0, "{}", public.stderr);
    let no_secret = d.tessera(&["client", "rotate-secret", "spa"]);
    assert_eq!(no_secret.code, 1, "{}", no_secret.stderr);
    assert!(no_secret.stderr.contains("no secret"), "{}", no_secret.stderr);
    let audit = d.tessera(&["audit", "--limit", "20"]).stdout;
    assert_eq!(audit.matches("admin.client.rotate_secret").count(), 3, "{audit}");
}
