//! The real `tessera` binary against the real daemon: each subcommand's effect is
//! checked over HTTP.

use crate::harness::{TestDaemon, password, run_tessera, s};
use serde_json::json;

#[tokio::test]
async fn guest_toggle_takes_effect_at_once_and_survives_restart() {
    // The file says guest off and registration open, explicitly.
    let d = TestDaemon::with("[guest]\nenabled = false\n[registration]\nmode = \"open\"\n");
    let guest = || d.send(d.client().post(d.url("/api/auth/guest")));
    assert_eq!(guest().await.status, 403);
    let on = d.tessera(&["guest", "on"]);
    assert_eq!((on.code, on.stdout.trim()), (0, "guest mode: on"), "{}", on.stderr);
    assert_eq!(guest().await.status, 200);
    assert_eq!(
        d.tessera(&["guest", "status", "--json"]).json(),
        json!({"enabled": true})
    );
    let closed = d.tessera(&["registration", "closed"]);
    assert_eq!(closed.code, 0, "{}", closed.stderr);
    let resp = d
        .post_json(
            "/api/auth/register",
            json!({"username": "late", "email": "l@example.com", "password": "12345678"}),
        )
        .await;
    assert_eq!(resp.code(), "REGISTRATION_CLOSED");
    // The same file after a crash: the stored console changes win over it.
    let d = d.crash_restart();
    assert_eq!(d.send(d.client().post(d.url("/api/auth/guest"))).await.status, 200);
    assert_eq!(
        d.tessera(&["--json", "registration", "status"]).json(),
        json!({"mode": "closed"})
    );
    let status = d.tessera(&["status", "--json"]).json();
    assert_eq!(
        (status["guestEnabled"].clone(), status["registrationOpen"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(d.tessera(&["guest", "off"]).code, 0);
    assert_eq!(d.send(d.client().post(d.url("/api/auth/guest"))).await.status, 403);
}

#[tokio::test]
async fn a_setting_never_changed_from_the_console_follows_the_file() {
    let d = TestDaemon::with("[guest]\nenabled = true\n");
    assert_eq!(d.send(d.client().post(d.url("/api/auth/guest"))).await.status, 200);
    let dir = d.stop();
    let d = TestDaemon::launch(dir, "[guest]\nenabled = false\n", &[]);
    let guest = d.send(d.client().post(d.url("/api/auth/guest"))).await;
    guest.expect_error(403, "GUEST_DISABLED");
}

#[tokio::test]
async fn user_add_works_while_registration_is_closed_and_can_log_in() {
    let d = TestDaemon::with("[registration]\nmode = \"closed\"\n");
    let add = d.tessera_stdin(
        &[
            "user",
            "add",
            "Ops",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
            "--display-name",
            "Op S",
            "--password-stdin",
            "--json",
        ],
        "an operator password\n",
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    let user = add.json();
    assert_eq!(
        (
            user["username"].clone(),
            user["role"].clone(),
            user["displayName"].clone()
        ),
        (json!("Ops"), json!("admin"), json!("Op S"))
    );
    assert_eq!(user["disabled"], false);
    let login = d
        .post_json(
            "/api/auth/token",
            json!({"username": "ops", "password": "an operator password"}),
        )
        .await;
    assert_eq!(login.status, 200, "the trailing newline was stripped: {}", login.text);
    assert_eq!(login.json()["scopes"], json!(["read", "write", "admin"]));

    let dup = d.tessera_stdin(
        &["user", "add", "OPS", "--email", "x@example.com", "--password-stdin"],
        "12345678\n",
    );
    assert_eq!(dup.code, 1);
    assert!(dup.stderr.contains("taken"), "{}", dup.stderr);
    let bad_role = d.tessera_stdin(
        &[
            "user",
            "add",
            "x1",
            "--email",
            "x1@example.com",
            "--role",
            "boss",
            "--password-stdin",
        ],
        "12345678\n",
    );
    assert_eq!(bad_role.code, 1, "{}", bad_role.stderr);
    let usage = d.tessera(&["user", "add", "x2", "--email", "x2@example.com"]);
    assert_eq!(usage.code, 2, "without a terminal, --password-stdin is required");
}

#[tokio::test]
async fn list_show_and_search_users() {
    let d = TestDaemon::start();
    d.register("alice").await;
    d.register("bob").await;
    let list = d.tessera(&["user", "list", "--json"]).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    for key in [
        "id",
        "username",
        "email",
        "displayName",
        "role",
        "emailVerified",
        "createdAt",
    ] {
        assert!(list[0].get(key).is_some(), "{key} in the HTTP user shape");
    }
    let found = d.tessera(&["user", "list", "--search", "BOB@"]).stdout;
    assert!(found.contains("bob") && !found.contains("alice"), "{found}");
    let shown = d.tessera(&["user", "show", "alice@example.com", "--json"]).json();
    assert_eq!(shown["username"], "alice");
    let table = d.tessera(&["user", "list"]).stdout;
    assert!(table.starts_with("USERNAME"), "{table}");
    let missing = d.tessera(&["user", "show", "nobody"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no user"), "{}", missing.stderr);
}

#[tokio::test]
async fn disable_cuts_tokens_and_logins_enable_restores_login_only() {
    let d = TestDaemon::start();
    let login = d.register("carol").await;
    let at = s(&login, "accessToken");
    let disabled = d.tessera(&["user", "disable", "carol", "--json"]);
    assert_eq!((disabled.code, disabled.json()["disabled"].clone()), (0, json!(true)));
    d.assert_dead(&at).await;
    let refresh = d.rotate(s(&login, "refreshToken")).await;
    assert_eq!(refresh.status, 401);
    let again = d
        .post_json(
            "/api/auth/token",
            json!({"username": "carol", "password": password("carol")}),
        )
        .await;
    assert_eq!((again.status, again.code()), (403, "ACCOUNT_DISABLED".into()));
    let wrong = d
        .post_json(
            "/api/auth/token",
            json!({"username": "carol", "password": "not-her-password"}),
        )
        .await;
    assert_eq!(
        wrong.code(),
        "LOGIN_FAILED",
        "the disabled state shows only after a correct password"
    );

    assert_eq!(d.tessera(&["user", "enable", "carol"]).code, 0);
    d.login("carol").await;
    assert_eq!(
        d.get("/api/auth/me", Some(&at)).await.status,
        401,
        "enable does not bring sessions back"
    );
}

#[tokio::test]
async fn delete_set_role_and_set_password() {
    let d = TestDaemon::start();
    let dave = d.register("dave").await;
    let role = d.tessera(&["user", "set-role", "dave", "admin", "--json"]);
    assert_eq!(role.json()["role"], "admin");
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&dave, "accessToken"))).await.status,
        401,
        "role change revokes sessions"
    );
    assert_eq!(d.login("dave").await["scopes"], json!(["read", "write", "admin"]));

    let session = d.login("dave").await;
    let set = d.tessera_stdin(
        &["user", "set-password", "dave", "--password-stdin"],
        "a brand new password\n",
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&session, "accessToken"))).await.status,
        401
    );
    let old = d
        .post_json(
            "/api/auth/token",
            json!({"username": "dave", "password": password("dave")}),
        )
        .await;
    assert_eq!(old.status, 401);
    let new = d
        .post_json(
            "/api/auth/token",
            json!({"username": "dave", "password": "a brand new password"}),
        )
        .await;
    assert_eq!(new.status, 200);
    let short = d.tessera_stdin(&["user", "set-password", "dave", "--password-stdin"], "short\n");
    assert_eq!(short.code, 1);

    let token = s(&new.json(), "accessToken");
    assert_eq!(d.tessera(&["user", "delete", "dave"]).code, 0);
    d.assert_dead(&token).await;
    assert_eq!(
        d.post_json(
            "/api/auth/token",
            json!({"username": "dave", "password": "a brand new password"})
        )
        .await
        .status,
        401
    );
    assert_eq!(d.tessera(&["user", "show", "dave"]).code, 1);
    d.register("dave").await;
}

#[tokio::test]
async fn sessions_list_revoke_and_revoke_all() {
    let d = TestDaemon::start();
    let first = d.register("erin").await;
    let second = d.login("erin").await;
    d.register("frank").await;
    let all = d.tessera(&["session", "list", "--json"]).json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let erins = d.tessera(&["session", "list", "erin", "--json"]).json();
    assert_eq!(erins.as_array().unwrap().len(), 2);
    assert!(erins.as_array().unwrap().iter().all(|s| s["username"] == "erin"));

    let claims_sid = |login: &serde_json::Value| s(&crate::harness::claims(&s(login, "accessToken")), "sid");
    let sid = claims_sid(&first);
    assert_eq!(d.tessera(&["session", "revoke", &sid]).code, 0);
    d.assert_dead(&s(&first, "accessToken")).await;
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&second, "accessToken"))).await.status,
        200
    );
    assert_eq!(d.tessera(&["session", "revoke", &sid]).code, 1, "already revoked");
    assert_eq!(d.tessera(&["session", "revoke", "not-a-session"]).code, 1);

    let all = d.tessera(&["session", "revoke-all", "erin", "--json"]);
    assert_eq!(all.json(), json!({"count": 1}));
    let refresh = d.rotate(s(&second, "refreshToken")).await;
    assert_eq!(refresh.status, 401);
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&second, "accessToken"))).await.status,
        401
    );
}

#[tokio::test]
async fn key_rotation_signs_with_the_new_key_and_old_tokens_still_verify() {
    let d = TestDaemon::start();
    let before = d.register("gina").await;
    let old_kid = d.tessera(&["key", "list", "--json"]).json()[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = d.tessera(&["key", "rotate", "--json"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let keys = d.get("/api/auth/keys", None).await.json()["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert_eq!(keys[0]["status"], "active");
    assert_eq!(
        (keys[1]["kid"].as_str().unwrap(), keys[1]["status"].as_str().unwrap()),
        (old_kid.as_str(), "retiring")
    );
    let new_kid = keys[0]["kid"].as_str().unwrap().to_owned();

    let after = d.login("gina").await;
    let footer = |t: &str| {
        let b = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            t.rsplit('.').next().unwrap(),
        )
        .unwrap();
        serde_json::from_slice::<serde_json::Value>(&b).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(footer(&s(&after, "accessToken")), new_kid);
    assert_eq!(footer(&s(&before, "accessToken")), old_kid);
    assert_eq!(
        d.get("/api/auth/me", Some(&s(&before, "accessToken"))).await.status,
        200,
        "old token still verifies"
    );
    d.assert_live(&s(&after, "accessToken")).await;
    let status = d.tessera(&["status", "--json"]).json();
    assert_eq!(status["keyIds"], json!([new_kid, old_kid]));
}

#[tokio::test]
async fn audit_records_admin_actions_with_the_peer_uid_and_follows_live() {
    let d = TestDaemon::start();
    d.register("hank").await;
    assert_eq!(d.tessera(&["guest", "on"]).code, 0);
    let entries = d.tessera(&["audit", "--json", "--limit", "10"]).json();
    let events: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"register") && events.contains(&"admin.guest.on"),
        "{events:?}"
    );
    let admin = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "admin.guest.on")
        .unwrap();
    assert!(admin["origin"].as_str().unwrap().starts_with("uid="), "{admin}");

    let mut follow = crate::harness::ChildGuard(
        std::process::Command::new(crate::harness::TESSERA)
            .args(["--socket"])
            .arg(&d.socket)
            .args(["audit", "--follow", "--json", "--limit", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = follow.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap(),
        "[]",
        "the (empty) history first"
    );
    // Subscribed before the answer above, so this login is seen.
    d.login("hank").await;
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a live event");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["event"], "login.success");
    assert_eq!(event["username"], "hank", "named live too");
}

#[tokio::test]
async fn audit_names_users_by_username_while_they_exist() {
    let d = TestDaemon::start();
    let hank = d.register("hank").await;
    let id = s(&hank["user"], "id");
    d.register("ivy").await;
    let lines = d.tessera(&["audit", "--limit", "5"]).stdout;
    let register = |name: &str| {
        lines
            .lines()
            .find(|l| l.contains("register") && l.contains(name))
            .map(str::to_owned)
    };
    assert!(register("hank").is_some() && register("ivy").is_some(), "{lines}");
    assert!(!lines.contains(&id), "an id where a name is known: {lines}");
    let json = d.tessera(&["audit", "--json", "--limit", "5"]).json();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == id.as_str() && e["event"] == "register")
        .cloned()
        .unwrap();
    assert_eq!(entry["username"], "hank", "{entry}");
    // Deleted, the user has no name left: the id is shown.
    assert_eq!(d.tessera(&["user", "delete", "hank"]).code, 0);
    let lines = d.tessera(&["audit", "--limit", "5"]).stdout;
    assert!(lines.contains(&id), "{lines}");
    let page = d.tessera(&["audit", "--all", "--json"]).json();
    assert!(
        page.as_array().unwrap().iter().any(|e| e["username"] == "ivy"),
        "paged entries are named too: {page}"
    );
}

#[test]
fn an_unreachable_daemon_is_exit_3_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nowhere.sock");
    let out = run_tessera(&socket, &["status"], None);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains(&socket.display().to_string()), "{}", out.stderr);
    for hint in [
        "--socket",
        "TESSERA_SOCKET",
        "./tessera-data/admin.sock",
        "/run/tessera/admin.sock",
    ] {
        assert!(out.stderr.contains(hint), "names {hint}: {}", out.stderr);
    }
}

#[tokio::test]
async fn clients_are_added_with_a_one_time_secret_listed_and_removed() {
    let d = TestDaemon::start();
    let added = d.tessera(&["client", "add", "billing", "--scopes", "read write", "--json"]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let created = added.json();
    assert_eq!(created["clientId"], "billing");
    assert_eq!(created["scopes"], json!(["read", "write"]));
    let secret = s(&created, "clientSecret");
    assert!(secret.starts_with("tsr_cs_") && secret.len() >= 7 + 43, "{secret}");
    let list = d.tessera(&["client", "list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret), "the secret is never shown again");
    assert_eq!(d.tessera(&["status", "--json"]).json()["clients"], 1);
    assert_eq!(
        d.tessera(&["client", "add", "billing", "--scopes", "read"]).code,
        1,
        "ids are unique"
    );
    assert_eq!(d.tessera(&["client", "add", "bad id!", "--scopes", "read"]).code, 1);
    let unscoped = d.tessera(&["client", "add", "reports"]);
    assert_eq!(unscoped.code, 2, "scopes must be named: {}", unscoped.stderr);
    assert!(unscoped.stderr.contains("--scopes"), "{}", unscoped.stderr);
    let added = d.tessera(&["client", "add", "reports", "--scopes", "", "--json"]);
    assert_eq!(added.code, 0, "none, when asked for: {}", added.stderr);
    assert_eq!(added.json()["scopes"], json!([]));
    assert_eq!(d.tessera(&["client", "remove", "reports"]).code, 0);
    assert_eq!(
        d.tessera(&["client", "add", "x", "--scopes", "launch-missiles"]).code,
        1,
        "unknown scope"
    );
    assert_eq!(d.tessera(&["client", "remove", "billing"]).code, 0);
    assert_eq!(d.tessera(&["client", "remove", "billing"]).code, 1);
    assert_eq!(d.tessera(&["client", "list", "--json"]).json(), json!([]));
    // Only the digest is at rest.
    let stored = crate::harness::stored_bytes(&d.stop());
    assert!(
        stored.windows(7).any(|w| w == b"billing"),
        "the client record is in the files read"
    );
    let needle = secret.as_bytes();
    assert!(
        !stored.windows(needle.len()).any(|w| w == needle),
        "the secret is not stored"
    );
}

#[tokio::test]
async fn status_counts_activity() {
    let d = TestDaemon::start();
    d.register("ivy").await;
    d.post_json(
        "/api/auth/token",
        json!({"username": "ivy", "password": "wrong-password"}),
    )
    .await;
    let status = d.tessera(&["status", "--json"]).json();
    assert_eq!(status["users"], 1);
    assert_eq!(status["sessions"], 1);
    assert_eq!(status["counters"]["logins"], 1);
    assert_eq!(status["counters"]["failures"], 1);
    assert!(status["storeBytes"].as_u64().unwrap() > 0, "{status}");
    let records = &status["records"];
    for (kind, n) in [
        ("users", 1),
        ("sessions", 1),
        ("refreshTokens", 1),
        ("apiTokens", 0),
        ("clients", 0),
        ("denied", 0),
    ] {
        assert_eq!(records[kind], n, "{kind}: {status}");
    }
    assert!(records["audit"].as_u64().unwrap() >= 2, "{status}");
    let human = d.tessera(&["status"]).stdout;
    assert!(human.contains("1 logins, 1 failures"), "{human}");
    assert!(human.contains("1 users, 1 sessions, 1 refresh tokens"), "{human}");
    assert!(human.contains("store on disk"), "{human}");
}

#[tokio::test]
async fn activity_counts_grants_reuse_and_the_hash_queue_and_users_show_their_last_login() {
    let d = TestDaemon::start();
    let before = d.tessera(&["user", "show", "ivy", "--json"]);
    assert_eq!(before.code, 1, "no such user yet");
    let registered = d.register("ivy").await;
    let shown = d.tessera(&["user", "show", "ivy", "--json"]).json();
    let first_login = shown["lastLoginAt"]
        .as_str()
        .expect("registration opens a session")
        .to_owned();
    assert_eq!(shown["createdAt"], first_login.as_str());
    d.login("ivy").await;
    let listed = d.tessera(&["user", "list", "--json"]).json();
    assert!(
        listed[0]["lastLoginAt"]
            .as_str()
            .is_some_and(|at| at >= first_login.as_str())
    );

    // A rotation, then a replay of the rotated token: one refresh, one reuse.
    let old = s(&registered, "refreshToken");
    assert_eq!(d.rotate(&old).await.status, 200);
    assert_eq!(d.rotate(&old).await.status, 401);
    let status = d.tessera(&["status", "--json"]).json();
    let counters = &status["counters"];
    assert_eq!(counters["refreshes"], 1);
    assert_eq!(counters["reuseDetected"], 1);
    // register + login + rotation each signed an access token.
    assert_eq!(counters["issued"], 3);
    assert_eq!(status["hashQueue"], 0, "nothing hashing now");
    assert_eq!(status["roles"], json!(["admin", "guest", "user"]));

    // Audit entries carry consecutive sequence numbers, newest first.
    let entries = d.tessera(&["audit", "--json"]).json();
    let seqs: Vec<u64> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.len() >= 3 && seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");
}

#[tokio::test]
async fn what_clients_type_as_a_name_neither_grows_the_trail_nor_reaches_the_terminal() {
    let d = TestDaemon::start();
    let forged = format!("\u{1b}[2J\u{1b}]0;owned\u{7}{}", "n".repeat(20_000));
    let resp = d
        .post_json(
            "/api/auth/token",
            json!({"username": forged, "password": "whatever-pw"}),
        )
        .await;
    assert_eq!(resp.status, 401);
    let out = d.tessera(&["audit"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
        "{:?}",
        out.stdout
    );
    let entries = d.tessera(&["audit", "--json"]).json();
    let failure = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "login.failure")
        .unwrap();
    let subject = failure["subject"].as_str().unwrap();
    assert!(subject.starts_with("unknown:") && subject.len() <= 24, "{subject}");
}

#[tokio::test]
async fn a_closed_standard_output_ends_the_listing_quietly() {
    let d = TestDaemon::start();
    d.register("kim").await;
    let mut child = std::process::Command::new(crate::harness::TESSERA)
        .arg("--socket")
        .arg(&d.socket)
        .args(["user", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the answer is printed, as `| head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Needs root to give the planted socket to another uid.
#[test]
fn a_socket_planted_in_the_working_directory_by_another_user_is_not_trusted() {
    if !crate::harness::prerequisite(crate::harness::is_root(), "root, to give a socket to another user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tessera-data");
    std::fs::create_dir(&data).unwrap();
    let planted = data.join("admin.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).expect("chown needs root");
    let out = std::process::Command::new(crate::harness::TESSERA)
        .arg("status")
        .current_dir(dir.path())
        .env_remove("TESSERA_SOCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("ignoring ./tessera-data/admin.sock"), "{stderr}");
    assert!(stderr.contains("/run/tessera/admin.sock"), "{stderr}");
}

/// The socket path (README, "The console"): `--socket`, then `$TESSERA_SOCKET`, then `./tessera-data/admin.sock`
/// (when it is the user's own), then `/run/tessera/admin.sock`.
#[tokio::test]
async fn the_socket_is_chosen_flag_then_environment_then_working_directory() {
    let d = TestDaemon::start();
    let cwd = tempfile::tempdir().unwrap();
    let nowhere = cwd.path().join("nowhere.sock");
    let status = |flag: Option<&std::path::Path>, env: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(crate::harness::TESSERA);
        command.current_dir(cwd.path()).env_remove("TESSERA_SOCKET");
        if let Some(path) = flag {
            command.arg("--socket").arg(path);
        }
        if let Some(path) = env {
            command.env("TESSERA_SOCKET", path);
        }
        command.arg("status");
        let out = crate::harness::output_within(&mut command, None, std::time::Duration::from_secs(30));
        out.status.code()
    };
    assert_eq!(status(None, Some(&d.socket)), Some(0), "the environment");
    assert_eq!(
        status(Some(&d.socket), Some(&nowhere)),
        Some(0),
        "the flag beats the environment"
    );
    assert_eq!(
        status(Some(&nowhere), Some(&d.socket)),
        Some(3),
        "the flag is used, even when wrong"
    );
    assert_eq!(
        status(None, None),
        Some(3),
        "nothing here: /run/tessera/admin.sock, absent"
    );
    std::fs::create_dir(cwd.path().join("tessera-data")).unwrap();
    std::os::unix::fs::symlink(&d.socket, cwd.path().join("tessera-data/admin.sock")).unwrap();
    assert_eq!(status(None, None), Some(0), "the user's own ./tessera-data/admin.sock");
    assert_eq!(
        status(None, Some(&nowhere)),
        Some(3),
        "the environment beats the working directory"
    );
}

#[test]
fn user_add_help_explains_every_argument_and_lists_the_roles() {
    let out = run_tessera(
        std::path::Path::new("/nonexistent.sock"),
        &["user", "add", "--help"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for needle in [
        "<NAME>  Username",
        "--email <EMAIL>",
        "Email address",
        "`admin`, `user`",
        "`guest`",
        "Display name",
    ] {
        assert!(out.stdout.contains(needle), "no {needle:?} in:\n{}", out.stdout);
    }
}
