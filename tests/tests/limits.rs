//! Connection limits, over raw TCP: slow headers and idle keep-alive connections are
//! closed, a connection serves a bounded number of requests, connections past the
//! cap wait until a slot frees, and the cap fits under the open-file limit.

use crate::harness::TestDaemon;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn connect(d: &TestDaemon) -> TcpStream {
    let addr = d.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    stream
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: tessera.test\r\n\r\n";

/// Reads until `needle` has arrived, or the peer closes, or `within` passes.
fn read_until(stream: &mut TcpStream, needle: &str, within: Duration) -> (String, bool) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&seen).contains(needle) {
                    return (String::from_utf8_lossy(&seen).into_owned(), false);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&seen).into_owned(), false)
}

/// True once the peer has closed the connection (within `within`).
fn closes(stream: &mut TcpStream, within: Duration) -> bool {
    read_until(stream, "\u{0}never", within).1
}

#[test]
fn headers_dribbled_past_the_header_timeout_are_cut_off() {
    let d = TestDaemon::with("[server]\nheader_timeout = \"1s\"\n");
    let mut stream = connect(&d);
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(6) {
        // A byte every 300 ms: never silent for long, never finished.
        if stream.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        if closes(&mut stream, Duration::from_millis(300)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a request whose headers never end must not hold its connection");
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let d = TestDaemon::with("[server]\nidle_timeout = \"1s\"\n");
    let mut stream = connect(&d);
    stream.write_all(HEALTHZ).unwrap();
    let (answer, closed) = read_until(&mut stream, "\"ok\"", Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 200") && !closed, "{answer}");
    assert!(closes(&mut stream, Duration::from_secs(5)), "idle past idle_timeout");
}

#[test]
fn a_connection_serves_a_bounded_number_of_requests() {
    let d = TestDaemon::with("[server]\nmax_requests_per_connection = 3\n");
    let mut stream = connect(&d);
    for i in 0..3 {
        stream.write_all(HEALTHZ).unwrap();
        let (answer, closed) = read_until(&mut stream, "\"ok\"", Duration::from_secs(5));
        assert!(answer.contains("200 OK"), "request {i}: {answer}");
        assert!(!closed || i == 2, "closed after request {i}");
        // The last answer says so, so that a client never sends a fourth on it.
        let says_close = answer.to_ascii_lowercase().contains("connection: close");
        assert_eq!(says_close, i == 2, "request {i}: {answer}");
    }
    assert!(
        closes(&mut stream, Duration::from_secs(5)),
        "closed after three requests"
    );
}

#[test]
fn connections_past_the_cap_wait_for_a_free_slot() {
    let d = TestDaemon::with("[server]\nmax_connections = 2\nheader_timeout = \"30s\"\n");
    let held: Vec<TcpStream> = (0..2).map(|_| connect(&d)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect(&d);
    third.write_all(HEALTHZ).unwrap();
    let (answer, _) = read_until(&mut third, "\"ok\"", Duration::from_secs(1));
    assert!(answer.is_empty(), "served past the cap: {answer}");
    drop(held);
    let (answer, _) = read_until(&mut third, "\"ok\"", Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn unknown_server_keys_are_still_refused_and_limits_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nmax_connections = 0\nheader_timeout = \"soon\"\nmax_request = 5\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::harness::TESSERAD)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for key in ["server.max_connections", "server.header_timeout", "server.max_request"] {
        assert!(stderr.contains(key), "{key} not reported: {stderr}");
    }
}

#[test]
fn the_connection_cap_follows_the_open_file_limit() {
    use crate::harness::{daemon_command_with_open_files, prerequisite, run_tessera, spawn_listening, write_config};
    use std::process::Command;
    if !prerequisite(
        Command::new("prlimit").arg("--version").output().is_ok(),
        "prlimit (util-linux)",
    ) {
        return;
    }
    // 192 open files, and the default cap of 512 connections.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut command = daemon_command_with_open_files(192, &config);
    let (mut child, addr, logs) = spawn_listening(&mut command);
    let socket = dir.path().join("data/admin.sock");
    let logged = |needle: &str| logs.lock().unwrap().iter().any(|l| l.contains(needle));
    assert!(logged("server.max_connections lowered"), "{:?}", logs.lock().unwrap());

    // 200 idle connections: more than the file limit could hold.
    let idle: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let status = run_tessera(&socket, &["status"], None);
    assert_eq!(status.code, 0, "the admin socket still answers: {}", status.stderr);
    drop(idle);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    stream.write_all(HEALTHZ).unwrap();
    let (answer, _) = read_until(&mut stream, "\r\n\r\n", Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!logged("Too many open files"), "{:?}", logs.lock().unwrap());
    let _ = child.kill();
    let _ = child.wait();
}
