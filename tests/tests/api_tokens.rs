//! Persistent API tokens over HTTP and from the console.

use crate::harness::{TestDaemon, s};
use serde_json::{Value, json};

#[tokio::test]
async fn create_use_list_and_delete() {
    let d = TestDaemon::start();
    let login = d.register("alice").await;
    let at = s(&login, "accessToken");
    let resp = d.create_api_token(&at, json!({"name": "ci"})).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let created = resp.json();
    let token = s(&created, "token");
    assert!(token.starts_with("tsr_at_"));
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert_eq!(created["expiresAt"], Value::Null);
    for key in ["id", "name", "createdAt"] {
        assert!(created[key].is_string(), "{key}");
    }

    let me = d.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["username"], "alice");

    let list = d.get("/api/auth/api-tokens", Some(&at)).await;
    assert_eq!(list.status, 200);
    let tokens = list.json()["tokens"].clone();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert_eq!(tokens[0]["id"], created["id"]);
    assert!(tokens[0]["lastUsedAt"].is_string(), "used once: {tokens}");
    assert!(!list.text.contains(&token), "the secret is shown only once");

    // Logout does not touch API tokens.
    assert_eq!(d.post_bearer("/api/auth/logout", &at).await.status, 204);
    d.assert_live(&token).await;

    let at = s(&d.login("alice").await, "accessToken");
    let id = s(&created, "id");
    let del = d
        .send(
            d.client()
                .delete(d.url(&format!("/api/auth/api-tokens/{id}")))
                .bearer_auth(&at),
        )
        .await;
    assert_eq!(del.status, 204);
    d.assert_dead(&token).await;
    let again = d
        .send(
            d.client()
                .delete(d.url(&format!("/api/auth/api-tokens/{id}")))
                .bearer_auth(&at),
        )
        .await;
    assert_eq!((again.status, again.code()), (404, "NOT_FOUND".into()));
}

#[tokio::test]
async fn scopes_expiry_bounds_and_names_are_checked() {
    let d = TestDaemon::start();
    d.register("bob").await;
    let narrow = d
        .post_json(
            "/api/auth/token",
            json!({"username": "bob", "password": "password-of-bob", "scopes": ["read"]}),
        )
        .await;
    let at = s(&narrow.json(), "accessToken");
    let wider = d
        .create_api_token(&at, json!({"name": "x", "scopes": ["read", "write"]}))
        .await;
    assert_eq!(
        (wider.status, wider.code()),
        (400, "INVALID_SCOPE".into()),
        "a subset of the session token's scopes"
    );
    let ok = d
        .create_api_token(&at, json!({"name": "x", "scopes": ["read"], "expiresIn": 60}))
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert!(ok.json()["expiresAt"].is_string());
    for (body, field) in [
        (json!({"name": "x", "expiresIn": 59}), "expiresIn"),
        (json!({"name": "x", "expiresIn": 3650 * 86_400 + 1}), "expiresIn"),
        (json!({"name": "x", "expiresIn": "soon"}), "expiresIn"),
        (json!({}), "name"),
        (json!({"name": "x".repeat(65)}), "name"),
    ] {
        let resp = d.create_api_token(&at, body.clone()).await;
        assert_eq!(
            (resp.status, resp.json()["field"].clone()),
            (400, json!(field)),
            "{body}"
        );
    }
    let form = d
        .send(
            d.client()
                .post(d.url("/api/auth/api-tokens"))
                .bearer_auth(&at)
                .form(&[("name", "f"), ("expiresIn", "3600")]),
        )
        .await;
    assert_eq!(form.status, 201, "{}", form.text);
}

#[tokio::test]
async fn only_session_tokens_manage_api_tokens() {
    let d = TestDaemon::with("[guest]\nenabled = true\n");
    let at = s(&d.register("carol").await, "accessToken");
    let api = s(&d.create_api_token(&at, json!({"name": "a"})).await.json(), "token");
    let guest = s(
        &d.send(d.client().post(d.url("/api/auth/guest"))).await.json(),
        "accessToken",
    );
    for bearer in [&api, &guest] {
        let resp = d.create_api_token(bearer, json!({"name": "b"})).await;
        assert_eq!((resp.status, resp.code()), (403, "INSUFFICIENT_SCOPE".into()));
        d.get("/api/auth/api-tokens", Some(bearer))
            .await
            .expect_error(403, "INSUFFICIENT_SCOPE");
        let del = d
            .send(
                d.client()
                    .delete(d.url("/api/auth/api-tokens/no-such-id"))
                    .bearer_auth(bearer),
            )
            .await;
        // The token kind is checked before the id.
        del.expect_error(403, "INSUFFICIENT_SCOPE");
    }
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        assert_eq!(d.post_bearer(path, &api).await.code(), "INSUFFICIENT_SCOPE", "{path}");
    }
    d.get("/api/auth/api-tokens", None)
        .await
        .expect_error(401, "INVALID_TOKEN");
    let put = d
        .send(d.client().put(d.url("/api/auth/api-tokens")).bearer_auth(&at))
        .await;
    assert_eq!((put.status, put.header("allow")), (405, Some("GET, POST")));
    // Another user's token id is not found.
    let dan = s(&d.register("dan").await, "accessToken");
    let theirs = s(&d.create_api_token(&at, json!({"name": "c"})).await.json(), "id");
    let del = d
        .send(
            d.client()
                .delete(d.url(&format!("/api/auth/api-tokens/{theirs}")))
                .bearer_auth(&dan),
        )
        .await;
    del.expect_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn disabled_owners_suspend_tokens_and_deleted_owners_lose_them() {
    let d = TestDaemon::start();
    let at = s(&d.register("erin").await, "accessToken");
    let api = s(&d.create_api_token(&at, json!({"name": "a"})).await.json(), "token");
    assert_eq!(d.tessera(&["user", "disable", "erin"]).code, 0);
    assert_eq!(
        d.get("/api/auth/me", Some(&api)).await.status,
        401,
        "inactive while disabled"
    );
    assert_eq!(d.tessera(&["user", "enable", "erin"]).code, 0);
    assert_eq!(
        d.get("/api/auth/me", Some(&api)).await.status,
        200,
        "active again once enabled"
    );

    let listed = d.tessera(&["token", "list", "erin", "--json"]).json();
    assert_eq!(listed[0]["username"], "erin");
    assert_eq!(d.tessera(&["status", "--json"]).json()["apiTokens"], 1);
    let id = s(&listed[0], "id");
    assert_eq!(d.tessera(&["token", "revoke", &id]).code, 0);
    d.assert_dead(&api).await;
    assert_eq!(d.tessera(&["token", "revoke", &id]).code, 1);

    let at = s(&d.login("erin").await, "accessToken");
    let api = s(&d.create_api_token(&at, json!({"name": "b"})).await.json(), "token");
    assert_eq!(d.tessera(&["user", "delete", "erin"]).code, 0);
    d.assert_dead(&api).await;
    assert_eq!(d.tessera(&["token", "list", "--json"]).json(), json!([]));
}

#[tokio::test]
async fn last_use_is_written_back_and_survives_restart() {
    let d = TestDaemon::start();
    let at = s(&d.register("fay").await, "accessToken");
    let api = s(&d.create_api_token(&at, json!({"name": "a"})).await.json(), "token");
    d.assert_live(&api).await;
    let d = d.restart();
    let listed = d.get("/api/auth/api-tokens", Some(&at)).await.json();
    assert!(listed["tokens"][0]["lastUsedAt"].is_string(), "{listed}");
}

#[tokio::test]
async fn scopes_follow_the_owners_current_role_and_the_configured_roles() {
    let d = TestDaemon::start();
    let add = d.tessera_stdin(
        &[
            "user",
            "add",
            "boss",
            "--email",
            "boss@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "password-of-boss\n",
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    let login = d.login("boss").await;
    let created = d
        .create_api_token(&s(&login, "accessToken"), json!({"name": "deploy"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let api_token = s(&created.json(), "token");
    let me = d.get("/api/auth/me", Some(&api_token)).await.json();
    assert_eq!(me["scopes"], json!(["read", "write", "admin"]));
    assert_eq!(d.tessera(&["user", "set-role", "boss", "user"]).code, 0);
    let me = d.get("/api/auth/me", Some(&api_token)).await.json();
    assert_eq!(me["scopes"], json!(["read", "write"]), "demoted: admin is gone");

    // A narrower role in the configuration applies to existing sessions at refresh.
    let user_login = d.login("boss").await;
    let dir = d.stop();
    let d = TestDaemon::launch(dir, "[roles.user]\nscopes = [\"read\"]\n", &[]);
    let rotated = d.rotate(s(&user_login, "refreshToken")).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let me = d
        .get("/api/auth/me", Some(&s(&rotated.json(), "accessToken")))
        .await
        .json();
    assert_eq!(me["scopes"], json!(["read"]));
    let me = d.get("/api/auth/me", Some(&api_token)).await.json();
    assert_eq!(me["scopes"], json!(["read"]));
}

#[tokio::test]
async fn a_user_holds_at_most_fifty_api_tokens() {
    let d = TestDaemon::start();
    let login = d.register("max").await;
    let bearer = s(&login, "accessToken");
    for i in 0..50 {
        let resp = d.create_api_token(&bearer, json!({"name": format!("t{i}")})).await;
        assert_eq!(resp.status, 201, "{}", resp.text);
    }
    let refused = d.create_api_token(&bearer, json!({"name": "one-too-many"})).await;
    assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST".to_owned()));
    assert!(refused.text.contains("at most 50"), "{}", refused.text);
}
