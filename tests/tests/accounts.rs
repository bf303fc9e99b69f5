//! Registration and login.

use crate::harness::{TestDaemon, password, s};
use serde_json::json;

#[tokio::test]
async fn register_returns_tokens_and_the_user() {
    let d = TestDaemon::start();
    let resp = d
        .post_json(
            "/api/auth/register",
            json!({"username": "Alice", "email": "Alice@Example.com", "password": "correct horse", "displayName": "Alice A."}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let body = resp.json();
    assert!(s(&body, "accessToken").starts_with("v4.public."));
    assert!(s(&body, "refreshToken").starts_with("tsr_rt_"));
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 3600);
    assert_eq!(body["scopes"], json!(["read", "write"]));
    let user = &body["user"];
    assert_eq!(user["username"], "Alice", "case is kept");
    assert_eq!(user["email"], "Alice@Example.com");
    assert_eq!(user["displayName"], "Alice A.");
    assert_eq!(user["role"], "user");
    assert_eq!(user["emailVerified"], false);
    assert!(s(user, "createdAt").ends_with('Z'));
}

#[tokio::test]
async fn display_name_defaults_to_username_and_form_bodies_work() {
    let d = TestDaemon::start();
    let resp = d
        .post_form(
            "/api/auth/register",
            &[
                ("username", "bob"),
                ("email", "bob@example.com"),
                ("password", "12345678"),
            ],
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.json()["user"]["displayName"], "bob");
}

#[tokio::test]
async fn duplicates_in_other_case_conflict() {
    let d = TestDaemon::start();
    d.register("alice").await;
    let resp = d
        .post_json(
            "/api/auth/register",
            json!({"username": "ALICE", "email": "x@example.com", "password": "12345678"}),
        )
        .await;
    assert_eq!((resp.status, resp.code()), (409, "USERNAME_TAKEN".into()));
    let resp = d
        .post_json(
            "/api/auth/register",
            json!({"username": "alice2", "email": "ALICE@example.COM", "password": "12345678"}),
        )
        .await;
    assert_eq!((resp.status, resp.code()), (409, "EMAIL_TAKEN".into()));
}

#[tokio::test]
async fn invalid_fields_are_named() {
    let d = TestDaemon::start();
    let cases = [
        (
            json!({"username": "a", "email": "a@example.com", "password": "12345678"}),
            "username",
        ),
        (
            json!({"username": "-abc", "email": "a@example.com", "password": "12345678"}),
            "username",
        ),
        (json!({"email": "a@example.com", "password": "12345678"}), "username"),
        (
            json!({"username": "abc", "email": "not-an-email", "password": "12345678"}),
            "email",
        ),
        (
            json!({"username": "abc", "email": "a@nodot", "password": "12345678"}),
            "email",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": 12345678}),
            "password",
        ),
        (
            json!({"username": "abc", "email": "a@example.com", "password": "12345678", "displayName": "x".repeat(65)}),
            "displayName",
        ),
    ];
    for (body, field) in cases {
        let resp = d.post_json("/api/auth/register", body.clone()).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.code(), "INVALID_REQUEST");
        assert_eq!(resp.json()["field"], field, "{body}");
    }
    // Eight characters that are each several bytes are eight characters.
    let resp = d
        .post_json(
            "/api/auth/register",
            json!({"username": "abc", "email": "a@example.com", "password": "ééééé😀😀😀"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
}

#[tokio::test]
async fn closed_registration_is_refused() {
    let d = TestDaemon::with("[registration]\nmode = \"closed\"\n");
    let resp = d
        .post_json(
            "/api/auth/register",
            json!({"username": "abc", "email": "a@example.com", "password": "12345678"}),
        )
        .await;
    assert_eq!((resp.status, resp.code()), (403, "REGISTRATION_CLOSED".into()));
}

#[tokio::test]
async fn login_by_username_or_email_in_any_case() {
    let d = TestDaemon::start();
    d.register("carol").await;
    for login in ["carol", "CAROL", "carol@example.com", "Carol@Example.COM"] {
        let resp = d
            .post_json(
                "/api/auth/token",
                json!({"username": login, "password": password("carol")}),
            )
            .await;
        assert_eq!(resp.status, 200, "{login}: {}", resp.text);
        assert_eq!(resp.json()["user"]["username"], "carol");
    }
    let resp = d
        .post_json(
            "/api/auth/login",
            json!({"email": "carol@example.com", "password": password("carol")}),
        )
        .await;
    assert_eq!(
        resp.status, 200,
        "the login alias and the email field work: {}",
        resp.text
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_byte_identical_answers() {
    let d = TestDaemon::start();
    d.register("dave").await;
    let wrong = d
        .post_json(
            "/api/auth/token",
            json!({"username": "dave", "password": "wrong-password"}),
        )
        .await;
    let unknown = d
        .post_json(
            "/api/auth/token",
            json!({"username": "nobody", "password": "wrong-password"}),
        )
        .await;
    let too_short = d
        .post_json("/api/auth/token", json!({"username": "dave", "password": "x"}))
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.code(), "LOGIN_FAILED");
    assert_eq!(wrong.text, unknown.text, "byte-identical bodies");
    assert_eq!(wrong.text, too_short.text);
    assert_eq!(wrong.headers.get("content-type"), unknown.headers.get("content-type"));
}

#[tokio::test]
async fn scopes_default_to_the_role_and_may_be_narrowed() {
    let d = TestDaemon::start();
    d.register("erin").await;
    let pw = password("erin");
    let narrowed = d
        .post_json(
            "/api/auth/token",
            json!({"username": "erin", "password": pw, "scopes": ["read"]}),
        )
        .await;
    assert_eq!(narrowed.json()["scopes"], json!(["read"]));
    let me = d.get("/api/auth/me", Some(&s(&narrowed.json(), "accessToken"))).await;
    assert_eq!(me.json()["scopes"], json!(["read"]));
    let form = d
        .post_form(
            "/api/auth/token",
            &[("username", "erin"), ("password", &pw), ("scope", "write read")],
        )
        .await;
    assert_eq!(form.json()["scopes"], json!(["write", "read"]));
    let empty = d
        .post_json(
            "/api/auth/token",
            json!({"username": "erin", "password": pw, "scopes": []}),
        )
        .await;
    assert_eq!(empty.json()["scopes"], json!(["read", "write"]));
    let wider = d
        .post_json(
            "/api/auth/token",
            json!({"username": "erin", "password": pw, "scopes": ["read", "admin"]}),
        )
        .await;
    assert_eq!((wider.status, wider.code()), (400, "INVALID_SCOPE".into()));
}

#[tokio::test]
async fn configured_roles_set_the_scopes() {
    let d = TestDaemon::with("[roles.user]\nscopes = [\"read\", \"comment\"]\n");
    let body = d.register("fay").await;
    assert_eq!(body["scopes"], json!(["read", "comment"]));
}

#[tokio::test]
async fn login_requires_its_fields() {
    let d = TestDaemon::start();
    let resp = d.post_json("/api/auth/token", json!({"password": "12345678"})).await;
    assert_eq!((resp.status, resp.json()["field"].clone()), (400, json!("username")));
    let resp = d.post_json("/api/auth/token", json!({"username": "someone"})).await;
    assert_eq!((resp.status, resp.json()["field"].clone()), (400, json!("password")));
}

#[tokio::test]
async fn a_login_upgrades_a_hash_made_with_older_argon2_parameters() {
    let d = TestDaemon::start();
    d.register("gail").await;
    let dir = d.stop();
    let stored = |dir: &tempfile::TempDir| {
        if crate::harness::postgres::selected() {
            let sql = "SELECT password_hash FROM users WHERE username = 'gail'";
            return crate::harness::postgres::query(dir.path(), sql).concat();
        }
        let store = tesserad::store::SledStore::open(&dir.path().join("data")).unwrap();
        store.user_by_login("gail").unwrap().unwrap().password_hash
    };
    assert!(stored(&dir).contains("m=64,t=1,p=1"), "{}", stored(&dir));

    let d = TestDaemon::launch(dir, "[argon2]\nmemory_kib = 128\niterations = 2\n", &[]);
    d.login("gail").await;
    let dir = d.stop();
    assert!(stored(&dir).contains("m=128,t=2,p=1"), "{}", stored(&dir));
    let d = TestDaemon::launch(dir, "[argon2]\nmemory_kib = 128\niterations = 2\n", &[]);
    d.login("gail").await;
}
