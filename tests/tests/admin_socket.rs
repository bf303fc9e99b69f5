//! The admin socket at the byte level: bad input never takes the daemon down.

use crate::harness::{TESSERAD, TestDaemon, write_config};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

struct Raw {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Raw {
    fn connect(d: &TestDaemon) -> Self {
        let stream = UnixStream::connect(&d.socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    fn line(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line).unwrap() {
            0 => None,
            _ => Some(serde_json::from_str(&line).unwrap()),
        }
    }

    fn hello(&mut self) {
        self.send(b"{\"hello\":{\"version\":1,\"client\":\"raw test\"}}\n");
        assert!(self.line().unwrap().get("welcome").is_some());
    }
}

fn error_code(frame: &Value) -> &str {
    frame["response"]["outcome"]["error"]["code"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn garbage_oversized_lines_and_wrong_versions_are_answered_not_fatal() {
    let d = TestDaemon::start();

    let mut wrong = Raw::connect(&d);
    wrong.send(b"{\"hello\":{\"version\":99,\"client\":\"future\"}}\n");
    let refused = wrong.line().unwrap();
    assert_eq!(refused["refused"]["error"]["code"], "VERSION_MISMATCH");
    assert!(wrong.line().is_none(), "closed after refusing");

    let mut rude = Raw::connect(&d);
    rude.send(b"{\"request\":{\"id\":1,\"call\":{\"op\":\"status\"}}}\n");
    assert_eq!(rude.line().unwrap()["refused"]["error"]["code"], "HANDSHAKE_REQUIRED");

    let mut raw = Raw::connect(&d);
    raw.hello();
    raw.send(b"this is not json\n");
    assert_eq!(error_code(&raw.line().unwrap()), "INVALID_REQUEST");
    raw.send(b"{\"request\":{\"id\":7,\"call\":{\"op\":\"no_such_op\"}}}\n");
    let answer = raw.line().unwrap();
    assert_eq!(
        (answer["response"]["id"].clone(), error_code(&answer)),
        (json!(7), "INVALID_REQUEST")
    );
    let mut huge = vec![b'x'; 200 * 1024];
    huge.push(b'\n');
    raw.send(&huge);
    assert_eq!(error_code(&raw.line().unwrap()), "LINE_TOO_LONG");
    raw.send(b"{\"request\":{\"id\":8,\"call\":{\"op\":\"guest_status\"}}}\n");
    let answer = raw.line().unwrap();
    assert_eq!(
        answer["response"],
        json!({"id": 8, "outcome": {"ok": {"guest": {"enabled": false}}}})
    );

    // Half-closed: the request sent before shutting down our side is still answered.
    let mut half = Raw::connect(&d);
    half.hello();
    half.send(b"{\"request\":{\"id\":2,\"call\":{\"op\":\"status\"}}}");
    half.writer.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(half.line().unwrap()["response"]["outcome"]["ok"]["status"].is_object());
    assert!(half.line().is_none());

    // A client that connects and says nothing does not block anyone.
    let _silent = UnixStream::connect(&d.socket).unwrap();
    assert_eq!(d.get("/healthz", None).await.status, 200);
    assert_eq!(d.tessera(&["status"]).code, 0);
}

#[test]
fn the_socket_is_private_stale_files_are_replaced_and_live_ones_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDaemon::start();
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second daemon on the same socket path refuses to start.
    let other = tempfile::tempdir().unwrap();
    let extra = format!("[admin]\nsocket = \"{}\"\n", d.socket.display());
    let config = write_config(other.path(), &extra);
    let mut second = std::process::Command::new(TESSERAD);
    second
        .arg("--config")
        .arg(&config)
        .env_remove("TESSERA_LISTEN")
        .env_remove("TESSERA_DATA_DIR");
    let out = crate::harness::output_within(&mut second, None, std::time::Duration::from_secs(30));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // After a crash the socket file stays behind; the next start replaces it.
    let socket = d.socket.clone();
    let dir = d.kill();
    assert!(socket.exists());
    let d = TestDaemon::launch(dir, "", &[]);
    assert_eq!(d.tessera(&["status"]).code, 0);
}

/// Runs `tessera status` as another uid/gid through setpriv (needs root; CI runs as
/// root). Returns its exit code and stderr.
fn status_as(socket: &std::path::Path, uid: u32, gid: u32) -> (i32, String) {
    let out = std::process::Command::new("setpriv")
        .args([
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--clear-groups".into(),
            "--".into(),
        ])
        .arg(crate::harness::TESSERA)
        .arg("--socket")
        .arg(socket)
        .arg("status")
        .output()
        .expect("setpriv");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temporary directory anyone may traverse, for a socket other users must reach.
fn traversable_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test]
async fn peer_credentials_decide_who_gets_in() {
    use std::os::unix::fs::PermissionsExt;
    if !crate::harness::prerequisite(crate::harness::is_root(), "root, to act as other users") {
        return;
    }
    // The socket lives in a directory anyone may traverse, owned by group nogroup.
    let shared = traversable_dir();
    let socket = shared.path().join("admin.sock");
    let d = TestDaemon::with(&format!(
        "[admin]\nsocket = \"{}\"\ngroup = \"nogroup\"\n",
        socket.display()
    ));
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), 65534);

    let (code, stderr) = status_as(&socket, 65534, 65534);
    assert_eq!(code, 0, "a member of the configured group gets in: {stderr}");

    // Open the file to everyone: the kernel lets a stranger connect, the daemon's
    // SO_PEERCRED check does not let it in.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, stderr) = status_as(&socket, 4242, 4242);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(d.wait_for_log("admin connection refused"), "the attempt is logged");
    assert_eq!(d.tessera_at(&socket, &["status"]).code, 0, "root still gets in");
}

#[tokio::test]
async fn a_socket_directory_the_daemon_makes_lets_the_group_in() {
    use std::os::unix::fs::MetadataExt;
    if !crate::harness::prerequisite(crate::harness::is_root(), "root, to act as another user") {
        return;
    }
    let shared = traversable_dir();
    let dir = shared.path().join("run/tessera");
    let socket = dir.join("admin.sock");
    let d = TestDaemon::with(&format!(
        "[admin]\nsocket = \"{}\"\ngroup = \"nogroup\"\n",
        socket.display()
    ));
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.gid()), (0o750, 65534), "made for the group");
    let (code, stderr) = status_as(&socket, 65534, 65534);
    assert_eq!(code, 0, "a member of the group reaches the socket: {stderr}");
    assert!(
        !d.logs().contains("cannot enter the socket's directory"),
        "{}",
        d.logs()
    );
}

#[test]
fn a_group_that_cannot_reach_the_socket_is_refused_with_the_reason() {
    // The default socket sits in the 0700 data directory: no group can enter it, so
    // the configuration is refused, by check-config and at start, naming the fix.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::harness::write_config(dir.path(), "[admin]\ngroup = \"nogroup\"\n");
    for args in [&["check-config", "--config"][..], &["--config"][..]] {
        let out = crate::harness::output_within(
            std::process::Command::new(crate::harness::TESSERAD)
                .args(args)
                .arg(&config),
            None,
            std::time::Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("admin.group: cannot work while the admin socket")
                && stderr.contains("inside the data directory")
                && stderr.contains("admin.socket"),
            "{args:?}: {stderr}"
        );
    }
    // A socket in a directory the group may enter is accepted.
    let shared = traversable_dir();
    let config = crate::harness::write_config(
        dir.path(),
        &format!(
            "[admin]\nsocket = \"{}\"\ngroup = \"nogroup\"\n",
            shared.path().join("admin.sock").display()
        ),
    );
    let out = std::process::Command::new(crate::harness::TESSERAD)
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
