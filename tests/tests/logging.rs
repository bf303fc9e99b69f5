//! The daemon's log: what reaches it, and that writing it never holds up a request.

use crate::harness::{ChildGuard, TESSERAD, TestDaemon, write_config};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn requests_are_logged_at_debug_only() {
    let quiet = TestDaemon::start();
    assert_eq!(quiet.get("/healthz", None).await.status, 200);
    // An info line logged after the request: lines are written in order, so once it
    // is there, a request line would be too.
    let rotate = quiet.tessera(&["key", "rotate"]);
    assert_eq!(rotate.code, 0, "{}", rotate.stderr);
    assert!(quiet.wait_for_log("rotated the signing key"));
    assert!(!quiet.logs().contains("path=\"/healthz\""), "{}", quiet.logs());

    let dir = tempfile::tempdir().unwrap();
    let verbose = TestDaemon::launch(dir, "", &[("TESSERA_LOG", "info,tessera::http=debug")]);
    assert_eq!(verbose.get("/healthz", None).await.status, 200);
    assert!(
        verbose.wait_for_log("path=\"/healthz\" status=200"),
        "{}",
        verbose.logs()
    );
}

#[tokio::test]
async fn a_stderr_nobody_reads_does_not_stall_requests() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut child = Command::new(TESSERAD)
        .arg("--config")
        .arg(&config)
        .env_remove("TESSERA_LISTEN")
        .env_remove("TESSERA_DATA_DIR")
        .env_remove("NOTIFY_SOCKET")
        // Several lines per request, so the pipe (64 KiB) fills within a few hundred.
        .env("TESSERA_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let _guard = ChildGuard(child);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "tesserad exited before listening"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split([',', ' ']).next().unwrap().to_owned();
        }
    };
    // From here on nobody reads the pipe (it stays open: `stderr` lives to the end).
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for i in 0..2_000 {
        let response = http.get(format!("http://{addr}/healthz")).send().await;
        let status = response.map(|r| r.status().as_u16());
        assert!(matches!(status, Ok(200)), "request {i} stalled or failed: {status:?}");
    }
    drop(stderr);
}

/// The newest audit entry of `event` in `tessera audit --json`.
fn audit_entry(d: &TestDaemon, event: &str) -> serde_json::Value {
    let entries = d.tessera(&["audit", "--json", "--limit", "50"]).json();
    entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event)
        .max_by_key(|e| e["seq"].as_u64())
        .unwrap_or_else(|| panic!("no {event} in {entries}"))
        .clone()
}

#[tokio::test]
async fn every_request_has_an_id_in_its_answer_its_log_lines_and_its_audit_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::launch(dir, "", &[("TESSERA_LOG", "info,tessera::http=debug")]);
    let register = |id: Option<&str>, name: &str| {
        let mut request = d.client().post(d.url("/api/auth/register")).json(&serde_json::json!({
            "username": name,
            "email": format!("{name}@example.com"),
            "password": crate::harness::password(name),
        }));
        if let Some(id) = id {
            request = request.header("X-Request-Id", id);
        }
        d.send(request)
    };

    // A sane inbound id is kept: in the answer, on the request's log line, in its audit entry.
    let resp = register(Some("app-req.42:7"), "alice").await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    assert_eq!(resp.header("x-request-id"), Some("app-req.42:7"));
    assert!(
        d.wait_for_log("request{id=app-req.42:7}: tessera::http: request method=POST path=\"/api/auth/register\""),
        "the request's log line is in its span: {}",
        d.logs()
    );
    assert_eq!(audit_entry(&d, "register")["requestId"], "app-req.42:7");

    // Anything else is replaced by a generated id, as is a missing one.
    for (inbound, name) in [(Some("two words"), "bob"), (None, "carol")] {
        let resp = register(inbound, name).await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        let id = resp.header("x-request-id").expect("every answer has an id").to_owned();
        assert_eq!(id.len(), 32, "{id:?} is generated");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
        assert!(d.wait_for_log(&format!("request{{id={id}}}")), "{}", d.logs());
        let entry = audit_entry(&d, "register");
        assert_eq!(entry["requestId"], id.as_str(), "{entry}");
    }
    assert!(!d.logs().contains("two words"), "an insane id never reaches the log");

    // An error answer has one too.
    let resp = d.get("/api/auth/me", None).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("x-request-id").map(str::len), Some(32));

    // An admin call gets its own id, in its audit entry and its log lines.
    let disable = d.tessera(&["user", "disable", "bob"]);
    assert_eq!(disable.code, 0, "{}", disable.stderr);
    let entry = audit_entry(&d, "admin.user.disable");
    let id = entry["requestId"].as_str().unwrap_or_else(|| panic!("{entry}"));
    assert_eq!(id.len(), 32, "{entry}");
    let rotate = d.tessera(&["key", "rotate"]);
    assert_eq!(rotate.code, 0, "{}", rotate.stderr);
    let rotated = audit_entry(&d, "admin.key.rotate");
    let rotation = rotated["requestId"].as_str().unwrap_or_else(|| panic!("{rotated}"));
    assert_ne!(rotation, id, "each call has its own");
    assert!(
        d.wait_for_log(&format!("admin{{id={rotation}}}")),
        "the rotation's log line is in its span: {}",
        d.logs()
    );
}
