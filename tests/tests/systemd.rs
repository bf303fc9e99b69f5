//! The shipped systemd unit and example configuration.

use crate::harness::TESSERAD;
use std::path::Path;
use std::process::Command;

fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd").join(name)
}

#[test]
fn the_example_config_is_valid() {
    let out = Command::new(TESSERAD)
        .arg("check-config")
        .arg("--config")
        .arg(shipped("tessera.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The unit (README, "Under systemd"): exposure 1.5 or lower. Needs systemd-analyze (systemd ≥ 252 for
/// `--offline`), which `.ci/run` installs; elsewhere the check is reported as skipped.
#[test]
fn the_unit_scores_at_most_1_5_in_systemd_analyze_security() {
    let unit = shipped("tesserad.service");
    let out = match Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            crate::harness::prerequisite(false, &format!("systemd-analyze ({e})"));
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(score <= 1.5, "{line}");
}

#[test]
fn the_unit_leaves_file_descriptors_for_the_connection_cap() {
    let unit = std::fs::read_to_string(shipped("tesserad.service")).unwrap();
    let limit: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.trim().parse().ok())
        .expect("the unit sets LimitNOFILE");
    // server.max_connections defaults to 512; the store and admin socket need more.
    assert!(limit >= 4 * 512, "LimitNOFILE={limit}");
}

/// The start timeout is extended while the daemon starts (opening a large store can
/// take minutes), then the daemon says it is ready.
#[test]
fn systemd_hears_the_start_timeout_extended_then_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let daemon = crate::harness::TestDaemon::launch(dir, "", &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let mut heard: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    while !heard.iter().any(|m| m.contains("READY=1")) {
        let n = socket.recv(&mut buf).expect("no READY=1 within 30 s");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(heard[0].starts_with("EXTEND_TIMEOUT_USEC=30000000"), "{heard:?}");
    drop(daemon);
}
