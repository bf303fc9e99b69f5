//! `tesserad backup` and `tesserad restore` on a stopped daemon's store, and
//! `tessera backup` of a running one while clients write: a restored store serves the
//! same users, refresh lineage, API tokens, clients and signing keys; damaged, newer or
//! misdirected input is refused and changes nothing.

use crate::harness::{TESSERAD, TestDaemon, output_within, password, run_tessera, s};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `tesserad --config CONFIG ARGS…`, or `--data-dir` when `config` is `None`.
fn tesserad(config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(TESSERAD);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(args)
        .env_remove("TESSERA_DATA_DIR")
        .env_remove("TESSERA_LISTEN");
    output_within(&mut command, None, Duration::from_secs(60))
}

/// `tesserad --data-dir DATA restore --from FROM EXTRA…`.
fn restore(data: &Path, from: &Path, extra: &[&str]) -> Output {
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "restore",
        "--from",
        from.to_str().unwrap(),
    ];
    tesserad(None, &[&args[..], extra].concat())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_restored_store_serves_what_the_backup_held() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    let login = d.register("alice").await;
    let rotated = d.rotate(s(&login, "refreshToken")).await.json();
    let access = s(&rotated, "accessToken");
    let api = d.create_api_token(&access, json!({"name": "ci"})).await.json();
    let client = d
        .tessera(&["client", "add", "svc", "--scopes", "read", "--json"])
        .json();
    let jwks = d.get("/oauth/jwks", None).await.json();
    let step = crate::mfa::fresh_step().await;
    let (zed_secret, _, _) = crate::mfa::enrolled(&d, "zed", step).await;
    let dir = d.stop();
    let config = dir.path().join("tessera.toml");
    let out = dir.path().join("alice.tsrbak");
    let written = tesserad(Some(&config), &["backup", "--out", out.to_str().unwrap()]);
    assert!(written.status.success(), "{}", stderr(&written));
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);

    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    let restored = restore(&data, &out, &[]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    let checked = tesserad(None, &["--data-dir", data.to_str().unwrap(), "check"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("consistent"));

    let d = TestDaemon::launch(target, "", &[]);
    d.assert_live(&access).await;
    d.assert_live(&s(&api, "token")).await;
    assert_eq!(
        d.get("/oauth/jwks", None).await.json(),
        jwks,
        "the ID-token keys, restored rather than made anew"
    );
    // The second factor came back, with the step its confirmation used.
    let waiting = crate::mfa::waiting(&d, "zed").await;
    crate::mfa::verify(&d, &waiting, &crate::mfa::code(&zed_secret, step))
        .await
        .expect_error(401, "INVALID_CODE");
    assert_eq!(
        crate::mfa::verify(&d, &waiting, &crate::mfa::code(&zed_secret, step + 1))
            .await
            .status,
        200
    );
    assert_eq!(
        d.rotate(s(&rotated, "refreshToken")).await.status,
        200,
        "current at backup time"
    );
    assert_eq!(
        d.rotate(s(&login, "refreshToken")).await.status,
        401,
        "rotated before it"
    );
    let secret = s(&client, "clientSecret");
    let granted = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .basic_auth("svc", Some(&secret))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let logged_in = d.post_json(
        "/api/auth/token",
        json!({"username": "alice", "password": password("alice")}),
    );
    assert_eq!(logged_in.await.status, 200);
}

#[tokio::test]
async fn restore_refuses_damaged_newer_or_occupied_targets() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    d.register("bob").await;
    let dir = d.stop();
    let config = dir.path().join("tessera.toml");
    let good = dir.path().join("good.tsrbak");
    assert!(
        tesserad(Some(&config), &["backup", "--out", good.to_str().unwrap()])
            .status
            .success()
    );
    let bytes = std::fs::read(&good).unwrap();
    let variant = |name: &str, change: &dyn Fn(&mut Vec<u8>)| {
        let mut copy = bytes.clone();
        change(&mut copy);
        let path = dir.path().join(name);
        std::fs::write(&path, copy).unwrap();
        path
    };
    let flipped = variant("flipped", &|b| {
        let middle = b.len() / 2;
        b[middle] ^= 1;
    });
    let newer = variant("newer", &|b| b[7] = 9);
    let truncated = variant("truncated", &|b| b.truncate(b.len() - 10));
    for (file, says) in [(&flipped, "checksum"), (&newer, "format 9"), (&truncated, "truncated")] {
        let target = tempfile::tempdir().unwrap();
        let data = target.path().join("data");
        let out = restore(&data, file, &[]);
        assert_eq!(out.status.code(), Some(2), "{file:?}: {}", stderr(&out));
        // A flipped byte is caught by the checksum, or earlier when it lands in a length.
        let caught = stderr(&out).contains(says) || (says == "checksum" && stderr(&out).contains("damaged"));
        assert!(caught, "{file:?}: {}", stderr(&out));
        assert!(!data.exists(), "{file:?}: nothing written");
    }
    // The original data directory holds a store: refused, then replaced with --force.
    let data = dir.path().join("data");
    let refused = restore(&data, &good, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("not empty"), "{}", stderr(&refused));
    let forced = restore(&data, &good, &["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let d = TestDaemon::launch(dir, "", &[]);
    d.login("bob").await;
}

#[tokio::test]
async fn restore_will_not_replace_the_store_of_a_running_daemon() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    d.register("before").await;
    let spare = tempfile::tempdir().unwrap();
    let out = spare.path().join("live.tsrbak");
    let made = run_tessera(&d.socket, &["backup", "--out", out.to_str().unwrap()], None);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let data = d.socket.parent().unwrap().to_path_buf();
    let restored = restore(&data, &out, &["--force"]);
    assert_eq!(restored.status.code(), Some(2), "{}", stderr(&restored));
    assert!(stderr(&restored).contains("in use"), "{}", stderr(&restored));
    // The daemon's store is still its own: what it acknowledges now survives a restart.
    d.register("after").await;
    let d = TestDaemon::launch(d.stop(), "", &[]);
    d.login("before").await;
    d.login("after").await;
}

#[test]
fn a_crafted_length_is_refused_without_allocating_it() {
    // A backup whose one entry declares a 4 GB key (or a 48 MiB value) and holds a few
    // bytes, restored with 2 GB of address space as a small host might give it.
    let crafted = |key_len: u32, value_len: Option<u32>| {
        let header = br#"{"schema":1}"#;
        let mut b = b"TSRBAK".to_vec();
        b.extend(1u16.to_be_bytes());
        b.extend((header.len() as u32).to_be_bytes());
        b.extend(header);
        b.push(1); // an entry
        b.extend(5u16.to_be_bytes());
        b.extend(b"users");
        b.extend(key_len.to_be_bytes());
        if let Some(value_len) = value_len {
            b.extend(vec![7u8; key_len as usize]);
            b.extend(value_len.to_be_bytes());
        }
        b.extend([0u8; 64]);
        b
    };
    for (name, bytes, says) in [
        ("huge-key", crafted(u32::MAX - 15, None), "damaged"),
        ("long-value", crafted(4, Some(48 << 20)), "truncated"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let data = dir.path().join("data");
        let mut command = Command::new("sh");
        command
            .args(["-c", "ulimit -v 2000000 && exec \"$0\" \"$@\"", TESSERAD, "--data-dir"])
            .arg(&data)
            .args(["restore", "--from"])
            .arg(&file)
            .env_remove("TESSERA_DATA_DIR");
        let out = output_within(&mut command, None, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(2), "{name}: {:?} {}", out.status, stderr(&out));
        assert!(stderr(&out).contains(says), "{name}: {}", stderr(&out));
        assert!(!data.join("store").exists(), "{name}: nothing restored");
    }
}

#[test]
fn backup_refuses_a_running_store_an_existing_file_and_a_missing_directory() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    let data = d.socket.parent().unwrap().to_path_buf();
    let spare = tempfile::tempdir().unwrap();
    let out = spare.path().join("b.tsrbak");
    let args = |out: &Path| {
        vec![
            "--data-dir".to_owned(),
            data.display().to_string(),
            "backup".to_owned(),
            "--out".to_owned(),
            out.display().to_string(),
        ]
    };
    let run = |args: &[String]| tesserad(None, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let locked = run(&args(&out));
    assert_eq!(locked.status.code(), Some(2), "{}", stderr(&locked));
    assert!(stderr(&locked).contains("locked"), "{}", stderr(&locked));
    assert_eq!(
        std::fs::read_dir(spare.path()).unwrap().count(),
        0,
        "no partial file left"
    );
    let _dir = d.stop();
    std::fs::write(&out, "precious").unwrap();
    let exists = run(&args(&out));
    assert_eq!(exists.status.code(), Some(2), "{}", stderr(&exists));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    let forced = run(&[args(&out), vec!["--force".to_owned()]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));
    let missing = run(&args(&spare.path().join("nowhere/b.tsrbak")));
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("nowhere"), "{}", stderr(&missing));
}

/// One writer's round: a registration, two rotations, and a logout every other time.
struct Round {
    name: String,
    began: Instant,
    acknowledged: Instant,
    first: String,
    last: String,
    logged_out: bool,
}

/// Rounds of writes until `stop`, as one client would make them.
async fn write_rounds(d: Arc<TestDaemon>, writer: usize, stop: Arc<AtomicBool>) -> Vec<Round> {
    let mut rounds = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let name = format!("w{writer}n{}", rounds.len());
        let registered = d.register(&name).await;
        let first = s(&registered, "refreshToken");
        let once = d.rotate(&first).await.json();
        let twice = d.rotate(s(&once, "refreshToken")).await.json();
        let logged_out = rounds.len() % 2 == 1;
        if logged_out {
            let resp = d.post_bearer("/api/auth/logout", &s(&twice, "accessToken")).await;
            assert_eq!(resp.status, 204, "{}", resp.text);
        }
        rounds.push(Round {
            name,
            began,
            acknowledged: Instant::now(),
            first,
            last: s(&twice, "refreshToken"),
            logged_out,
        });
    }
    rounds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_daemon_holds_every_write_acknowledged_before_it() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = Arc::new(TestDaemon::start());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| tokio::spawn(write_rounds(Arc::clone(&d), w, Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spare = tempfile::tempdir().unwrap();
    let out = spare.path().join("live.tsrbak");
    let started = Instant::now();
    let (socket, target) = (d.socket.clone(), out.display().to_string());
    let backup = tokio::task::spawn_blocking(move || run_tessera(&socket, &["backup", "--out", &target], None))
        .await
        .unwrap();
    let ended = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut rounds = Vec::new();
    for writer in writers {
        rounds.extend(writer.await.unwrap());
    }
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    assert!(backup.stdout.contains("backup written"), "{}", backup.stdout);
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let before: Vec<&Round> = rounds.iter().filter(|r| r.acknowledged < started).collect();
    let after: Vec<&Round> = rounds.iter().filter(|r| r.began > ended).collect();
    assert!(
        before.len() >= 3 && !after.is_empty(),
        "{} before, {} after",
        before.len(),
        after.len()
    );
    drop(Arc::try_unwrap(d).ok().expect("writers done").stop());

    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    let data_dir = data.to_str().unwrap();
    let restored = restore(&data, &out, &[]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    let checked = tesserad(None, &["--data-dir", data_dir, "check"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));

    let d = TestDaemon::launch(target, "", &[]);
    let users = d.tessera(&["user", "list", "--json"]).json();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    for round in &before {
        assert!(
            names.contains(&round.name.as_str()),
            "{} registered before the backup",
            round.name
        );
        // The token current at backup time is accepted unless logged out, first.
        let last = d.rotate(&round.last).await.status;
        assert_eq!(last, if round.logged_out { 401 } else { 200 }, "{}", round.name);
        assert_eq!(
            d.rotate(&round.first).await.status,
            401,
            "{}: rotated before it",
            round.name
        );
    }
    for round in &after {
        assert!(
            !names.contains(&round.name.as_str()),
            "{} registered after the backup",
            round.name
        );
    }
}

/// `tesserad --data-dir DATA compact`.
fn compact(data: &Path) -> Output {
    tesserad(None, &["--data-dir", data.to_str().unwrap(), "compact"])
}

#[tokio::test]
async fn compact_rewrites_a_stopped_store_and_refuses_a_running_one() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    let login = d.register("alice").await;
    let mut refresh = s(&login, "refreshToken");
    for _ in 0..20 {
        refresh = s(&d.rotate(refresh).await.json(), "refreshToken");
    }
    let access = s(&d.login("alice").await, "accessToken");
    let api = d.create_api_token(&access, json!({"name": "ci"})).await.json();
    for i in 0..30 {
        d.register(&format!("gone{i}")).await;
        assert_eq!(d.tessera(&["user", "delete", &format!("gone{i}")]).code, 0);
    }
    let data = d.socket.parent().unwrap().to_path_buf();
    assert!(
        d.tessera(&["status", "--json"]).json().get("compacted").is_none(),
        "never compacted"
    );
    let running = compact(&data);
    assert_eq!(running.status.code(), Some(2), "{}", stderr(&running));
    assert!(stderr(&running).contains("locked"), "{}", stderr(&running));
    d.register("bob").await;

    let dir = d.stop();
    // What an interrupted compaction leaves is removed by the next one.
    let leftover = data.join(".compact-1").join("store");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("db"), "half a store").unwrap();
    let done = compact(&data);
    assert!(done.status.success(), "{}", stderr(&done));
    let said = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(said.starts_with("compacted ") && said.contains("MiB before"), "{said}");
    assert!(!data.join(".compact-1").exists(), "the leftover is gone");
    let names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".compact-")), "{names:?}");
    let checked = tesserad(None, &["--data-dir", data.to_str().unwrap(), "check"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));

    let d = TestDaemon::launch(dir, "", &[]);
    // tessera status says when, and the sizes before and after.
    let status = d.tessera(&["status", "--json"]).json();
    let compacted = &status["compacted"];
    let (before, after) = (
        compacted["beforeBytes"].as_u64().unwrap(),
        compacted["afterBytes"].as_u64().unwrap(),
    );
    assert!(after > 0 && after < before, "{compacted}");
    assert!(compacted["at"].as_str().unwrap().ends_with('Z'), "{compacted}");
    assert!(d.tessera(&["status"]).stdout.contains("compacted "));
    d.assert_live(&access).await;
    d.assert_live(&s(&api, "token")).await;
    assert_eq!(d.rotate(refresh).await.status, 200, "the current refresh token");
    d.login("bob").await;
    let gone = d.post_json(
        "/api/auth/token",
        json!({"username": "gone0", "password": password("gone0")}),
    );
    assert_eq!(gone.await.status, 401);
}

#[tokio::test]
async fn a_compaction_killed_at_any_point_leaves_a_whole_store() {
    if !crate::harness::embedded_store() {
        return;
    }
    let d = TestDaemon::start();
    for i in 0..40 {
        d.register(&format!("user{i}")).await;
    }
    let data = d.socket.parent().unwrap().to_path_buf();
    let mut dir = d.stop();
    // A compaction of this store takes about 100 ms: the kills land before, during
    // and after the swap.
    for delay_ms in [0, 10, 30, 60, 90, 120, 160] {
        let mut child = Command::new(TESSERAD)
            .args(["--data-dir", data.to_str().unwrap(), "compact"])
            .env_remove("TESSERA_DATA_DIR")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let checked = tesserad(None, &["--data-dir", data.to_str().unwrap(), "check"]);
        assert!(
            checked.status.success(),
            "killed after {delay_ms} ms: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            stderr(&checked)
        );
        let d = TestDaemon::launch(dir, "", &[]);
        d.login("user0").await;
        d.login("user39").await;
        dir = d.stop();
    }
}
