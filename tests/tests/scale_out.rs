//! Two daemons on one PostgreSQL database, as behind a load balancer: what one does,
//! the other enforces (revocations within a second), and a refresh token is exchanged
//! once whichever daemons it is presented to.

use crate::harness::TestDaemon;
use crate::harness::postgres::{self, PrivateCluster};
use serde_json::json;
use std::time::{Duration, Instant};

/// Two daemons sharing the database at `url`, each with its own data directory (its
/// admin socket).
fn pair(url: &str) -> (TestDaemon, TestDaemon) {
    let start = || {
        let dir = tempfile::tempdir().unwrap();
        let storage = postgres::storage_toml(dir.path(), url);
        TestDaemon::launch(dir, &storage, &[])
    };
    (start(), start())
}

/// Two daemons on a fresh database of the suite's cluster; `None` without one.
fn shared() -> Option<(TestDaemon, TestDaemon)> {
    if postgres::missing() {
        return None;
    }
    Some(pair(&postgres::new_database()))
}

fn s(v: &serde_json::Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_owned()
}

/// How long until `token` is refused by `d` (polled every 5 ms, at most 5 s).
async fn refused_after(d: &TestDaemon, token: &str, since: Instant) -> Duration {
    loop {
        let me = d.get("/api/auth/me", Some(token)).await;
        if me.status == 401 {
            return since.elapsed();
        }
        assert_eq!(me.status, 200, "{}", me.text);
        assert!(since.elapsed() < Duration::from_secs(5), "still accepted after 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_totp_step_used_on_one_daemon_is_refused_on_the_other() {
    let Some((a, b)) = shared() else { return };
    let step = crate::mfa::fresh_step().await;
    let (secret, codes, _) = crate::mfa::enrolled(&a, "alice", step - 1).await;
    let code = crate::mfa::code(&secret, step);
    let on_a = crate::mfa::waiting(&a, "alice").await;
    assert_eq!(crate::mfa::verify(&a, &on_a, &code).await.status, 200);
    // The same code at the other daemon (a waiting login made there): a replay.
    let on_b = crate::mfa::waiting(&b, "alice").await;
    crate::mfa::verify(&b, &on_b, &code)
        .await
        .expect_error(401, "INVALID_CODE");
    // A waiting login made on A finishes on B, once; a recovery code used on B is
    // used on A too.
    let on_a = crate::mfa::waiting(&a, "alice").await;
    assert_eq!(crate::mfa::verify(&b, &on_a, &codes[0]).await.status, 200);
    crate::mfa::verify(&a, &on_a, &codes[1])
        .await
        .expect_error(401, "INVALID_MFA_TOKEN");
    let on_a = crate::mfa::waiting(&a, "alice").await;
    crate::mfa::verify(&a, &on_a, &codes[0])
        .await
        .expect_error(401, "INVALID_CODE");
}

#[tokio::test]
async fn an_account_made_on_one_daemon_logs_in_on_the_other() {
    let Some((a, b)) = shared() else { return };
    let registered = a.register("alice").await;
    let login = b.login("alice").await;
    assert_eq!(login["user"]["id"], registered["user"]["id"]);
    // Each verifies the other's tokens: one issuer, one key ring.
    a.assert_live(&s(&login, "accessToken")).await;
    b.assert_live(&s(&registered, "accessToken")).await;
    // Unique names hold across daemons.
    let again = b
        .post_json(
            "/api/auth/register",
            json!({"username": "ALICE", "email": "other@example.com", "password": "long enough"}),
        )
        .await;
    again.expect_error(409, "USERNAME_TAKEN");
}

#[tokio::test]
async fn a_logout_or_a_disable_on_one_daemon_is_enforced_by_the_other_within_a_second() {
    let Some((a, b)) = shared() else { return };
    let mut worst = Duration::ZERO;
    a.register("bob").await;
    for _ in 0..10 {
        let login = a.login("bob").await;
        let token = s(&login, "accessToken");
        b.assert_live(&token).await;
        let since = Instant::now();
        assert_eq!(a.post_bearer("/api/auth/logout", &token).await.status, 204);
        worst = worst.max(refused_after(&b, &token, since).await);
    }
    for round in 0..5 {
        let login = b.login("bob").await;
        let token = s(&login, "accessToken");
        b.assert_live(&token).await;
        let since = Instant::now();
        assert_eq!(a.tessera(&["user", "disable", "bob"]).code, 0);
        worst = worst.max(refused_after(&b, &token, since).await);
        assert_eq!(a.tessera(&["user", "enable", "bob"]).code, 0, "round {round}");
        // Enabled again on A: B lets a new login's token through.
        let fresh = s(&b.login("bob").await, "accessToken");
        let deadline = Instant::now() + Duration::from_secs(2);
        while b.get("/api/auth/me", Some(&fresh)).await.status != 200 {
            assert!(Instant::now() < deadline, "B still bars bob after he was enabled on A");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!("worst revocation delay across daemons: {} ms", worst.as_millis());
    assert!(worst < Duration::from_secs(1), "worst delay {worst:?}");
}

#[tokio::test]
async fn an_enable_on_one_daemon_brings_back_no_session_the_disable_revoked_on_any() {
    let Some((a, b)) = shared() else { return };
    a.register("bob").await;
    for round in 0..5 {
        let token = s(&b.login("bob").await, "accessToken");
        b.assert_live(&token).await;
        // Disabled and enabled again on A at once, before B has polled.
        let since = Instant::now();
        assert_eq!(a.tessera(&["user", "disable", "bob"]).code, 0);
        assert_eq!(a.tessera(&["user", "enable", "bob"]).code, 0, "round {round}");
        a.assert_dead(&token).await;
        // B learns the revocation within the bound every revocation has, and keeps it.
        let delay = refused_after(&b, &token, since).await;
        assert!(delay < Duration::from_secs(1), "round {round}: {delay:?}");
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            b.assert_dead(&token).await;
        }
        b.assert_live(&s(&b.login("bob").await, "accessToken")).await;
    }
}

/// A transaction that logs a change and commits after its row has left the window
/// every poll reads (a commit that stalled): the row is still applied, because B
/// noticed the gap its id left and asks for it.
#[tokio::test]
async fn a_change_committed_after_it_left_the_poll_window_is_still_applied() {
    if postgres::missing() {
        return;
    }
    let url = postgres::new_database();
    let (a, b) = pair(&url);
    a.register("erin").await;
    let logged_out = s(&a.login("erin").await, "accessToken");
    let victim = s(&a.login("erin").await, "accessToken");
    let jti = crate::harness::claims(&victim)["jti"].as_str().unwrap().to_owned();
    let (mut db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let stalled = db.transaction().await.unwrap();
    let row = stalled
        .query_one(
            "INSERT INTO changes (kind, subject, until) VALUES ('denied', $1, 4102444800) RETURNING id",
            &[&jti],
        )
        .await
        .unwrap();
    let id: i64 = row.get(0);
    // A later id commits first: B reads it and passes over the stalled one.
    let since = Instant::now();
    assert_eq!(a.post_bearer("/api/auth/logout", &logged_out).await.status, 204);
    refused_after(&b, &logged_out, since).await;
    b.assert_live(&victim).await;
    // The stalled row commits, stamped an hour back: far outside the time window.
    stalled
        .execute(
            "UPDATE changes SET at = now() - INTERVAL '1 hour' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    stalled.commit().await.unwrap();
    let delay = refused_after(&b, &victim, Instant::now()).await;
    assert!(delay < Duration::from_secs(1), "{delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_token_presented_to_both_daemons_at_once_is_exchanged_once() {
    let Some((a, b)) = shared() else { return };
    a.register("carol").await;
    for round in 0..100 {
        let rt = s(&a.login("carol").await, "refreshToken");
        let (on_a, on_b) = tokio::join!(a.rotate(&rt), b.rotate(&rt));
        let won = [&on_a, &on_b].iter().filter(|r| r.status == 200).count();
        assert_eq!(
            won, 1,
            "round {round}: A {} {} / B {} {}",
            on_a.status, on_a.text, on_b.status, on_b.text
        );
        // The loser is a replay: the session is revoked, so the winner's new refresh
        // token is dead too.
        let winner = if on_a.status == 200 { &on_a } else { &on_b };
        let next = s(&winner.json(), "refreshToken");
        assert_eq!(a.rotate(&next).await.status, 401, "round {round}");
    }
}

#[tokio::test]
async fn a_key_rotated_on_one_daemon_signs_and_is_published_on_the_other() {
    let Some((a, b)) = shared() else { return };
    let old = s(&a.register("dave").await, "accessToken");
    assert_eq!(a.tessera(&["key", "rotate"]).code, 0);
    let kids = |keys: serde_json::Value| -> Vec<String> {
        keys["keys"].as_array().unwrap().iter().map(|k| s(k, "kid")).collect()
    };
    let on_a = kids(a.get("/api/auth/keys", None).await.json());
    assert_eq!(on_a.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(2);
    while kids(b.get("/api/auth/keys", None).await.json()) != on_a {
        assert!(Instant::now() < deadline, "B does not publish A's new key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A signs with the new key now; B verifies it, and the old key's token too.
    let new = s(&a.login("dave").await, "accessToken");
    b.assert_live(&new).await;
    b.assert_live(&old).await;
    // B signs with the new key as well.
    let from_b = s(&b.login("dave").await, "accessToken");
    let footer = |token: &str| token.rsplit('.').next().unwrap().to_owned();
    assert_eq!(footer(&from_b), footer(&new));
    a.assert_live(&from_b).await;
}

#[tokio::test]
async fn a_client_secret_rotated_on_one_daemon_is_refused_by_the_other_that_remembered_it() {
    let Some((a, b)) = shared() else { return };
    let old = crate::oauth::client(&a, "svc", "read");
    let grant = async |d: &TestDaemon, secret: &str| {
        let by = ("svc".to_owned(), secret.to_owned());
        crate::oauth::post(d, "/oauth/token", &[("grant_type", "client_credentials")], Some(&by))
            .await
            .status
    };
    assert_eq!(grant(&b, &old.1).await, 200, "B checked the secret and remembers it");
    let rotated = a.tessera(&["client", "rotate-secret", "svc", "--json"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let new = s(&rotated.json(), "clientSecret");
    let deadline = Instant::now() + Duration::from_secs(2);
    while grant(&b, &old.1).await != 401 {
        assert!(Instant::now() < deadline, "B still takes the old secret");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(grant(&b, &new).await, 200);
}

#[tokio::test]
async fn guest_mode_switched_on_one_daemon_is_seen_by_the_other() {
    let Some((a, b)) = shared() else { return };
    let guest = async |d: &TestDaemon| d.send(d.client().post(d.url("/api/auth/guest"))).await.status;
    assert_eq!(guest(&b).await, 403);
    assert_eq!(a.tessera(&["guest", "on"]).code, 0);
    let deadline = Instant::now() + Duration::from_secs(1);
    while guest(&b).await != 200 {
        assert!(Instant::now() < deadline, "B did not see guest mode on within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.tessera(&["guest", "off"]).code, 0);
    let deadline = Instant::now() + Duration::from_secs(1);
    while guest(&b).await != 403 {
        assert!(Instant::now() < deadline, "B did not see guest mode off within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn during_a_database_outage_both_fail_closed_and_recover_by_themselves() {
    let Some(cluster) = PrivateCluster::start() else { return };
    let url = cluster.new_database();
    let config = "max_staleness = \"2s\"\n";
    let start = |d: tempfile::TempDir| {
        let storage = postgres::storage_toml(d.path(), &url);
        TestDaemon::launch(d, &format!("{storage}{config}"), &[])
    };
    let (a, b) = (start(tempfile::tempdir().unwrap()), start(tempfile::tempdir().unwrap()));
    let token = s(&a.register("erin").await, "accessToken");
    b.assert_live(&token).await;
    assert_eq!(b.get("/healthz", None).await.status, 200);

    cluster.ctl("stop");
    // Writes fail at once, with 503 and Retry-After, never 500.
    let login = a
        .post_json(
            "/api/auth/token",
            json!({"username": "erin", "password": "password-of-erin"}),
        )
        .await;
    assert_eq!(login.status, 503, "{}", login.text);
    assert!(login.header("retry-after").is_some());
    // Health says so within a poll or two.
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.get("/healthz", None).await.status != 503 {
        assert!(
            Instant::now() < deadline,
            "B's /healthz still 200 with the database down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past max_staleness, neither accepts a token it can no longer check.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for d in [&a, &b] {
        let me = d.get("/api/auth/me", Some(&token)).await;
        assert_eq!(me.status, 503, "{}", me.text);
        assert!(me.header("retry-after").is_some());
    }

    cluster.ctl("start");
    let deadline = Instant::now() + Duration::from_secs(10);
    for d in [&a, &b] {
        while d.get("/api/auth/me", Some(&token)).await.status != 200 {
            assert!(
                Instant::now() < deadline,
                "no recovery 10 s after the database came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(d.get("/healthz", None).await.status, 200);
    }
    // And writes work again, on both.
    b.login("erin").await;
    a.login("erin").await;
}

#[test]
fn an_unreachable_database_stops_start_up_with_a_clear_message_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage = postgres::storage_toml(dir.path(), &format!("postgres://tessera:pw@127.0.0.1:{port}/db"));
    let config = crate::harness::write_config(dir.path(), &storage);
    let started = Instant::now();
    let mut daemon = crate::harness::daemon_command(&config);
    let out = crate::harness::output_within(&mut daemon, None, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}/db")),
        "{stderr}"
    );
    assert!(!stderr.contains(":pw@"), "the password was logged: {stderr}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5),
        "gave up after {waited:?} without retrying"
    );
}

#[test]
fn check_config_warns_when_daemons_sharing_a_database_would_derive_their_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let storage = postgres::storage_toml(dir.path(), "postgres://tessera:pw@127.0.0.1:5432/db");
    let config = crate::harness::write_config(dir.path(), &format!("[server]\nissuer = \"\"\n{storage}"));
    let out = crate::harness::daemon_command(&config)
        .arg("check-config")
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: server.issuer: derived from the listen address"),
        "{stderr}"
    );
}

#[tokio::test]
async fn migrate_moves_an_embedded_store_to_postgres_and_the_daemon_serves_it() {
    if postgres::missing() {
        return;
    }
    // An embedded store with users, sessions, an API token, a client and two keys.
    let d = TestDaemon::with("[storage]\nbackend = \"sled\"\n");
    let alice = d.register("alice").await;
    d.register("bob").await;
    let access = s(&alice, "accessToken");
    let refresh = s(&d.login("alice").await, "refreshToken");
    let api = d
        .create_api_token(&access, json!({"name": "ci", "scopes": ["read"]}))
        .await
        .json();
    let api_token = s(&api, "token");
    let client = d
        .tessera(&["client", "add", "reports", "--scopes", "read", "--json"])
        .json();
    let secret = s(&client, "clientSecret");
    assert_eq!(d.tessera(&["key", "rotate"]).code, 0);
    let after_rotation = s(&d.login("bob").await, "accessToken");
    assert_eq!(d.tessera(&["user", "disable", "bob"]).code, 0);
    let jwks = d.get("/oauth/jwks", None).await.json();
    let step = crate::mfa::fresh_step().await;
    let (zed, _, _) = crate::mfa::enrolled(&d, "zed", step).await;
    let dir = d.stop();

    let url = postgres::new_database();
    let url_file = dir.path().join("target.url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let migrate = |dir: &tempfile::TempDir| {
        std::process::Command::new(crate::harness::TESSERAD)
            .args(["migrate", "--from-data-dir"])
            .arg(dir.path().join("data"))
            .arg("--to-postgres")
            .arg(&url_file)
            .output()
            .unwrap()
    };
    let out = migrate(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("counts verified"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("users") && l.ends_with(" 3")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("signing_keys") && l.ends_with(" 6")),
        "two PASETO keys and two of each ID-token kind: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("mfa_factors") && l.ends_with(" 1")),
        "{stdout}"
    );
    // A second run finds the database in use and refuses, writing nothing.
    let again = migrate(&dir);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The same data directory, now served from PostgreSQL.
    let storage = postgres::storage_toml(dir.path(), &url);
    let d = TestDaemon::launch(dir, &storage, &[]);
    d.assert_live(&access).await;
    d.assert_dead(&after_rotation).await;
    let rotated = d.rotate(&refresh).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    d.login("alice").await;
    d.assert_live(&api_token).await;
    let granted = d
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "reports"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let bob = d
        .post_json(
            "/api/auth/token",
            json!({"username": "bob", "password": "password-of-bob"}),
        )
        .await;
    bob.expect_error(403, "ACCOUNT_DISABLED");
    assert_eq!(
        d.get("/api/auth/keys", None).await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        d.get("/oauth/jwks", None).await.json(),
        jwks,
        "the ID-token keys came along"
    );
    let waiting = crate::mfa::waiting(&d, "zed").await;
    crate::mfa::verify(&d, &waiting, &crate::mfa::code(&zed, step))
        .await
        .expect_error(401, "INVALID_CODE");
    assert_eq!(
        crate::mfa::verify(&d, &waiting, &crate::mfa::code(&zed, step + 1))
            .await
            .status,
        200,
        "the second factor came along, with its last step"
    );
}

#[tokio::test]
async fn daemons_starting_together_on_an_empty_database_agree_on_one_schema_and_one_key() {
    if postgres::missing() {
        return;
    }
    let url = postgres::new_database();
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let dir = tempfile::tempdir().unwrap();
                let storage = postgres::storage_toml(dir.path(), &url);
                TestDaemon::launch(dir, &storage, &[])
            })
        })
        .collect();
    let daemons: Vec<TestDaemon> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let keys: Vec<serde_json::Value> = {
        let mut keys = Vec::new();
        for d in &daemons {
            keys.push(d.get("/api/auth/keys", None).await.json()["keys"].clone());
        }
        keys
    };
    // A daemon that lost the race to make the first key took the winner's at once.
    assert_eq!(keys[0].as_array().unwrap().len(), 1, "{keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    let mut jwks = Vec::new();
    for d in &daemons {
        jwks.push(d.get("/oauth/jwks", None).await.json());
    }
    assert_eq!(
        jwks[0]["keys"].as_array().unwrap().len(),
        2,
        "one ID-token key of each kind: {jwks:?}"
    );
    assert!(jwks.iter().all(|k| *k == jwks[0]), "{jwks:?}");
    let token = s(&daemons[0].register("frank").await, "accessToken");
    for d in &daemons {
        d.assert_live(&token).await;
    }
}

#[test]
fn a_database_migrated_by_a_newer_tessera_is_refused_with_exit_2() {
    if postgres::missing() {
        return;
    }
    let url = postgres::new_database();
    let dir = tempfile::tempdir().unwrap();
    let storage = postgres::storage_toml(dir.path(), &url);
    drop(TestDaemon::launch(dir, &storage, &[]));
    postgres::on_database(&url, "INSERT INTO tessera_schema (version, applied_at) VALUES (999, 0)");
    let dir = tempfile::tempdir().unwrap();
    let storage = postgres::storage_toml(dir.path(), &url);
    let config = crate::harness::write_config(dir.path(), &storage);
    let out = crate::harness::output_within(
        &mut crate::harness::daemon_command(&config),
        None,
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("schema version 999 is newer than this build supports"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tls_to_the_database_follows_sslmode_and_verifies_the_certificate() {
    let Some(cluster) = PrivateCluster::start_tls() else {
        return;
    };
    let url = cluster.new_database();
    let ca = cluster.ca_file();
    let launch = |url: String| {
        let dir = tempfile::tempdir().unwrap();
        let storage = postgres::storage_toml(dir.path(), &url);
        let config = crate::harness::write_config(dir.path(), &storage);
        (dir, config)
    };
    // Verified against the given root: served (the server takes nothing but TLS).
    let verified = url.replace(
        "sslmode=disable",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let (dir, _) = launch(verified.clone());
    let storage = postgres::storage_toml(dir.path(), &verified);
    let d = TestDaemon::launch(dir, &storage, &[]);
    d.register("grace").await;
    drop(d);
    // Without TLS: the server turns it away. Its pg_hba.conf admits TCP only by
    // `hostssl`, so PostgreSQL (12 and later) says there is no entry for a connection
    // with "no encryption"; the daemon gives that reason after "cannot reach PostgreSQL".
    let (_dir, plain) = launch(url.clone());
    let out = crate::harness::output_within(
        &mut crate::harness::daemon_command(&plain),
        None,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a daemon the database turns away fails to start: {stderr}"
    );
    assert!(
        stderr.contains("cannot reach PostgreSQL")
            && stderr.contains("no pg_hba.conf entry")
            && stderr.contains("no encryption"),
        "turned away because the connection had no TLS, and says so: {stderr}"
    );
    // TLS, but the certificate is not from the root given: refused, not trusted.
    let other = tempfile::tempdir().unwrap();
    let stranger = other.path().join("other-ca.pem");
    let rcgen::CertifiedKey { cert, .. } = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(&stranger, cert.pem()).unwrap();
    let untrusted = url.replace(
        "sslmode=disable",
        &format!("sslmode=require&sslrootcert={}", stranger.display()),
    );
    let (_dir, config) = launch(untrusted);
    let out = crate::harness::output_within(
        &mut crate::harness::daemon_command(&config),
        None,
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach PostgreSQL") && stderr.contains("certificate"),
        "{stderr}"
    );
}
