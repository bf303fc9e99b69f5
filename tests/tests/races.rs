//! Operator changes that land while a login is hashing win: the login either fails
//! or its session is revoked with the change. Argon2 is made slow (about a second)
//! so the change lands inside the hash; the assertions hold whatever the timing.

use crate::harness::{TestDaemon, password, s};
use serde_json::json;
use std::time::Duration;

/// Argon2 slow enough that a login spends about a second hashing.
const SLOW_ARGON2: &str = "[argon2]\nmemory_kib = 32768\niterations = 24\nparallelism = 1\n";

/// Starts a login for `name` with `pw` in the background.
fn login_in_flight(d: &TestDaemon, name: &str, pw: String) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let (client, url, name) = (d.client().clone(), d.url("/api/auth/token"), name.to_owned());
    tokio::spawn(async move {
        let resp = client
            .post(url)
            .json(&json!({"username": name, "password": pw}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    })
}

/// Runs a `tessera` subcommand off the async threads.
async fn tessera(d: &TestDaemon, args: &[&str], stdin: Option<&str>) -> i32 {
    let (socket, args, stdin) = (
        d.socket.clone(),
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
        stdin.map(str::to_owned),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::harness::run_tessera(&socket, &args, stdin.as_deref()).code
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_role_change_during_a_login_leaves_no_session_with_the_old_role() {
    let d = TestDaemon::with(&format!("{SLOW_ARGON2}[throttle]\nmax_failures = 1\n"));
    let add = tessera(
        &d,
        &[
            "user",
            "add",
            "root",
            "--email",
            "root@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("password-of-root\n"),
    )
    .await;
    assert_eq!(add, 0);
    let login = login_in_flight(&d, "root", password("root"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tessera(&d, &["user", "set-role", "root", "user"], None).await, 0);
    let (status, body) = login.await.unwrap();
    if status == 200 {
        // The login finished first (its token says admin) and the demotion revoked it,
        // or the demotion came first and the login read the new role.
        let token = s(&body, "accessToken");
        let me = d.get("/api/auth/me", Some(&token)).await;
        match crate::harness::claims(&token)["role"].as_str() {
            Some("admin") => assert_eq!(
                (me.status, me.code()),
                (401, "INVALID_TOKEN".into()),
                "an admin session outlived the demotion"
            ),
            Some("user") => assert_eq!(me.json()["scopes"], json!(["read", "write"]), "{}", me.text),
            other => panic!("role {other:?}"),
        }
    } else {
        assert_eq!((status, body["error"].clone()), (401, json!("LOGIN_FAILED")));
    }
    // The password was right: losing the race is not a failed guess for the throttle,
    // which here blocks after one.
    let again = d
        .post_json(
            "/api/auth/token",
            json!({"username": "root", "password": password("root")}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
}

#[tokio::test]
async fn a_password_change_during_a_login_with_the_old_password_wins() {
    let d = TestDaemon::with(SLOW_ARGON2);
    d.register("mallory").await;
    // The change hashes the new password first: start it, then the login, so the
    // change is stored while the login hashes the old password.
    let change = {
        let d_socket = d.socket.clone();
        tokio::task::spawn_blocking(move || {
            crate::harness::run_tessera(
                &d_socket,
                &["user", "set-password", "mallory", "--password-stdin"],
                Some("a brand new password\n"),
            )
            .code
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let login = login_in_flight(&d, "mallory", password("mallory"));
    assert_eq!(change.await.unwrap(), 0);
    let (status, body) = login.await.unwrap();
    if status == 200 {
        let me = d.get("/api/auth/me", Some(&s(&body, "accessToken"))).await;
        assert_eq!(me.status, 401, "a session opened with the old password survived");
        let refresh = d.rotate(s(&body, "refreshToken")).await;
        assert_eq!(refresh.status, 401);
    } else {
        assert_eq!((status, body["error"].clone()), (401, json!("LOGIN_FAILED")));
    }
}

#[tokio::test]
async fn a_delete_during_a_login_is_final_even_after_a_restart() {
    let d = TestDaemon::with(SLOW_ARGON2);
    d.register("trent").await;
    let login = login_in_flight(&d, "trent", password("trent"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tessera(&d, &["user", "delete", "trent"], None).await, 0);
    let (status, body) = login.await.unwrap();
    let d = d.crash_restart();
    if status == 200 {
        let token = s(&body, "accessToken");
        d.assert_dead(&token).await;
        let create = d.create_api_token(&token, json!({"name": "after-delete"})).await;
        assert_eq!(create.status, 401, "{}", create.text);
        assert_eq!(d.rotate(s(&body, "refreshToken")).await.status, 401);
    } else {
        assert_eq!((status, body["error"].clone()), (401, json!("LOGIN_FAILED")));
    }
}
