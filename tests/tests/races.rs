//! Operator changes that land while a login is hashing win: the login fails, and is
//! not counted against the account by the throttle. The daemon is built with its
//! `test-hooks` feature, whose gate holds every password check as it starts (see the
//! daemon's `auth/gate.rs`): each test holds the login there, makes the change, then
//! lets the hash go on, so the change lands inside the hash every time.

use crate::harness::{TestDaemon, password};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The daemon's password-check gate: a directory it writes `hashing` in when a check
/// starts, and that the check waits in until `release` is there.
struct Gate(TempDir);

impl Gate {
    fn new() -> Self {
        Gate(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// A daemon (with `extra` over the test defaults) whose checks stop at this gate.
    fn daemon(&self, extra: &str) -> TestDaemon {
        let dir = self.path().to_str().unwrap().to_owned();
        TestDaemon::launch(tempfile::tempdir().unwrap(), extra, &[("TESSERA_TEST_HASH_GATE", &dir)])
    }

    /// Waits until a password check is held at the gate.
    async fn held(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.path().join("hashing").exists() {
            assert!(Instant::now() < deadline, "no password check reached the gate");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Lets every check, held or to come, go on.
    fn release(&self) {
        std::fs::write(self.path().join("release"), b"").unwrap();
    }
}

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

/// The answer to a login that lost the race: the generic failure.
fn lost(answer: (u16, serde_json::Value)) {
    let (status, body) = answer;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("LOGIN_FAILED")),
        "a login whose account changed during its hash is refused: {body}"
    );
}

#[tokio::test]
async fn a_role_change_during_a_login_leaves_no_session_with_the_old_role() {
    let gate = Gate::new();
    let d = gate.daemon("[throttle]\nmax_failures = 1\n");
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
    gate.held().await;
    assert_eq!(tessera(&d, &["user", "set-role", "root", "user"], None).await, 0);
    gate.release();
    lost(login.await.unwrap());
    // The password was right: losing the race is not a failed guess for the throttle,
    // which here blocks after one. The next login has the new role.
    let again = d
        .post_json(
            "/api/auth/token",
            json!({"username": "root", "password": password("root")}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let token = crate::harness::s(&again.json(), "accessToken");
    assert_eq!(crate::harness::claims(&token)["role"], "user");
}

#[tokio::test]
async fn a_password_change_during_a_login_with_the_old_password_wins() {
    let gate = Gate::new();
    let d = gate.daemon("");
    d.register("mallory").await;
    let login = login_in_flight(&d, "mallory", password("mallory"));
    gate.held().await;
    let change = tessera(
        &d,
        &["user", "set-password", "mallory", "--password-stdin"],
        Some("a brand new password\n"),
    )
    .await;
    assert_eq!(change, 0);
    gate.release();
    lost(login.await.unwrap());
    let old = d
        .post_json(
            "/api/auth/token",
            json!({"username": "mallory", "password": password("mallory")}),
        )
        .await;
    assert_eq!(old.status, 401, "the old password is gone: {}", old.text);
}

#[tokio::test]
async fn a_delete_during_a_login_is_final_even_after_a_restart() {
    let gate = Gate::new();
    let d = gate.daemon("");
    d.register("trent").await;
    let login = login_in_flight(&d, "trent", password("trent"));
    gate.held().await;
    assert_eq!(tessera(&d, &["user", "delete", "trent"], None).await, 0);
    gate.release();
    lost(login.await.unwrap());
    let d = d.crash_restart();
    let again = d
        .post_json(
            "/api/auth/token",
            json!({"username": "trent", "password": password("trent")}),
        )
        .await;
    assert_eq!(again.status, 401, "{}", again.text);
    assert_eq!(d.tessera(&["user", "show", "trent"]).code, 1, "trent stays deleted");
}
