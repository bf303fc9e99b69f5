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
