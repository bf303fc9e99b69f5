//! Start-up, configuration checks, shutdown, restart and crash durability.

use crate::harness::{TESSERAD, TestDaemon, output_within, s, spawn_listening, write_config};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

#[tokio::test]
async fn restart_keeps_users_sessions_revocations_and_the_key() {
    let d = TestDaemon::start();
    let alice = d.register("alice").await;
    let bob = d.register("bob").await;
    assert_eq!(
        d.post_bearer("/api/auth/logout", &s(&bob, "accessToken")).await.status,
        204
    );
    let keys_before = d.get("/api/auth/keys", None).await.json();
    let d = d.restart();
    assert_eq!(
        d.get("/api/auth/keys", None).await.json(),
        keys_before,
        "same signing key"
    );
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&alice, "accessToken"))).await.status,
        200,
        "session and key survive"
    );
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&bob, "accessToken"))).await.status,
        401,
        "revocation survives"
    );
    let rotated = d.rotate(s(&alice, "refreshToken")).await;
    assert_eq!(rotated.status, 200, "refresh token survives");
    d.login("bob").await;
    let dup = d
        .post_json(
            "/api/auth/register",
            json!({"username": "ALICE", "email": "z@example.com", "password": "12345678"}),
        )
        .await;
    assert_eq!(dup.status, 409, "indexes survive");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let d = TestDaemon::start();
    let carol = d.register("carol").await;
    let rotated = d.rotate(s(&carol, "refreshToken")).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let second = rotated.json();
    let other = d.login("carol").await;
    assert_eq!(
        d.post_bearer("/api/auth/logout", &s(&other, "accessToken"))
            .await
            .status,
        204
    );
    // An API token, and operator changes through the admin socket.
    let api = d
        .create_api_token(&s(&second, "accessToken"), json!({"name": "ci"}))
        .await;
    assert_eq!(api.status, 201, "{}", api.text);
    let api = s(&api.json(), "token");
    let mallory = d.register("mallory").await;
    assert_eq!(d.tessera(&["user", "disable", "mallory"]).code, 0);
    assert_eq!(d.tessera(&["registration", "closed"]).code, 0);
    let d = d.crash_restart();
    d.login("carol").await;
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&other, "accessToken"))).await.status,
        401,
        "logout survived the crash"
    );
    assert_eq!(
        d.get("/api/auth/me", Some(&api)).await.status,
        200,
        "the API token survived"
    );
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&mallory, "accessToken"))).await.status,
        401,
        "the disable survived"
    );
    let late = d
        .post_json(
            "/api/auth/register",
            json!({"username": "late", "email": "l@example.com", "password": "12345678"}),
        )
        .await;
    assert_eq!(late.code(), "REGISTRATION_CLOSED", "the setting survived");
    // The rotation survived the crash: the new token is stored and the old one spent
    // (presenting it is reuse, which ends the session: so it goes last).
    let new = d.rotate(s(&second, "refreshToken")).await;
    assert_eq!(new.status, 200, "the new refresh token is stored: {}", new.text);
    let old = d.rotate(s(&carol, "refreshToken")).await;
    assert_eq!(old.status, 401, "the old refresh token is spent");
}

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[tokens]\naccess_ttl = \"15m\"\n");
    let out = Command::new(TESSERAD)
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_config_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"0.0.0.0:80\"\n[tokens]\naccess_ttl = \"soon\"\n[throttle]\nmax_failures = -1\n[argon2]\nmemmory_kib = 5\n",
    )
    .unwrap();
    let out = Command::new(TESSERAD)
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let keys: Vec<&str> = stderr.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "server.issuer",
            "tokens.access_ttl",
            "throttle.max_failures",
            "argon2.memmory_kib"
        ],
        "{stderr}"
    );

    let out = Command::new(TESSERAD)
        .arg("check-config")
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a missing file is exit 2");
    let out = output_within(
        Command::new(TESSERAD).arg("--config").arg(&path),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "the daemon refuses to start on a bad file");
}

#[tokio::test]
async fn starts_on_the_embedded_default_with_only_the_port_overridden() {
    let cwd = tempfile::tempdir().unwrap();
    // No arguments and no file; only the port is overridden (through the environment)
    // so that tests can run in parallel.
    let (child, addr, logs) = spawn_listening(
        Command::new(TESSERAD)
            .current_dir(cwd.path())
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .env_remove("TESSERA_DATA_DIR")
            .env("TESSERA_LOG_FORMAT", "json"),
    );
    let line = logs
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("listening on"))
        .cloned()
        .unwrap();
    let mut child = crate::harness::ChildGuard(child);
    let log: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
    assert!(s(&log["fields"], "message").contains("listening on"));
    let base = format!("http://{addr}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // Tokens carry the derived issuer (the real port) and verify.
    let http = reqwest::Client::new();
    let body = json!({"username": "zero", "email": "zero@example.com", "password": "12345678"});
    let login: serde_json::Value = http
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = http
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(s(&login, "accessToken"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // The embedded default: guest mode off, registration open (above), the data and
    // the admin socket under ./tessera-data.
    let guest = http.post(format!("{base}/api/auth/guest")).send().await.unwrap();
    assert_eq!(guest.status(), 403, "guest mode is off by default");
    let data = cwd.path().join("tessera-data");
    let mode = |path: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
    };
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("admin.sock")), 0o600);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[server]\nlisten = \"256.0.0.1:1\"\n");
    let check = |flag: Option<&str>, env: Option<&str>| {
        let mut command = Command::new(TESSERAD);
        command
            .args(["check-config", "--config"])
            .arg(&config)
            .env_remove("TESSERA_LISTEN")
            .env_remove("TESSERA_DATA_DIR");
        if let Some(listen) = flag {
            command.args(["--listen", listen]);
        }
        if let Some(listen) = env {
            command.env("TESSERA_LISTEN", listen);
        }
        let out = output_within(&mut command, None, Duration::from_secs(30));
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = check(None, None);
    assert_eq!(code, Some(2), "the file's bad value is read: {stderr}");
    assert_eq!(
        check(None, Some("127.0.0.1:0")).0,
        Some(0),
        "the environment beats the file"
    );
    let (code, stderr) = check(None, Some("nonsense"));
    assert_eq!(code, Some(2), "the environment is read: {stderr}");
    assert_eq!(
        check(Some("127.0.0.1:0"), Some("nonsense")).0,
        Some(0),
        "the flag beats the environment"
    );
    let (code, stderr) = check(Some("nonsense"), Some("127.0.0.1:0"));
    assert_eq!(code, Some(2), "the flag is what counts: {stderr}");
}

#[tokio::test]
async fn expired_sessions_are_purged_from_the_store_at_start() {
    let d = TestDaemon::with("[tokens]\nsession_max_age = \"1s\"\n");
    d.register("ann").await;
    let dir = d.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let d = TestDaemon::launch(dir, "[tokens]\nsession_max_age = \"1s\"\n", &[]);
    assert!(d.wait_for_log("purged expired records"), "{}", d.logs());
    assert!(d.logs().contains("sessions=1 refresh_tokens=1"), "{}", d.logs());
}

#[tokio::test]
async fn a_second_daemon_on_the_same_data_directory_exits_2_saying_why() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    let data = d.socket.parent().unwrap().display().to_string();
    let other = tempfile::tempdir().unwrap();
    let config = write_config(other.path(), &format!("[storage]\ndata_dir = {data:?}\n"));
    let mut second = Command::new(TESSERAD);
    second
        .arg("--config")
        .arg(&config)
        .env_remove("TESSERA_DATA_DIR")
        .env_remove("TESSERA_LISTEN");
    let out = output_within(&mut second, None, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("locked by another process"), "{stderr}");
    d.register("alice").await;
}

#[tokio::test]
async fn a_damaged_store_is_refused_with_exit_2_and_left_alone() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    d.register("alice").await;
    let dir = d.stop();
    let store = dir.path().join("data/store");
    {
        let db = sled::open(&store).unwrap();
        db.open_tree("meta").unwrap().remove("schema_version").unwrap();
        db.flush().unwrap();
    }
    let config = write_config(dir.path(), "");
    let mut daemon = Command::new(TESSERAD);
    daemon
        .arg("--config")
        .arg(&config)
        .env_remove("TESSERA_DATA_DIR")
        .env_remove("TESSERA_LISTEN");
    let out = output_within(&mut daemon, None, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("damaged") && stderr.contains("refusing to start"),
        "{stderr}"
    );
    let db = sled::open(&store).unwrap();
    assert_eq!(db.open_tree("users").unwrap().len(), 1, "the users are still there");
}

#[tokio::test]
async fn only_digests_of_refresh_and_api_tokens_are_at_rest() {
    let d = TestDaemon::start();
    let login = d.register("rita").await;
    let rotated = d.rotate(s(&login, "refreshToken")).await.json();
    let api = d
        .create_api_token(&s(&login, "accessToken"), json!({"name": "ci"}))
        .await
        .json();
    let secrets = [s(&login, "refreshToken"), s(&rotated, "refreshToken"), s(&api, "token")];
    let stored = crate::harness::stored_bytes(&d.stop());
    let email = b"rita@example.com";
    assert!(
        stored.windows(email.len()).any(|w| w == email),
        "the records are in the files read"
    );
    for secret in &secrets {
        let needle = secret.as_bytes();
        assert!(!stored.windows(needle.len()).any(|w| w == needle), "{secret} is stored");
    }
}
