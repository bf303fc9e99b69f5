//! The full-screen console (`tessera` with no subcommand) in a real pseudo-terminal
//! against the real daemon: keystrokes in, effects checked over HTTP.

use crate::harness::tty::Tty;
use crate::harness::{TESSERA, TestDaemon, s};
use serde_json::json;

const ENTER: &[u8] = b"\r";
const CTRL_C: &[u8] = b"\x03";

fn console(d: &TestDaemon) -> Tty {
    let socket = d.socket.display().to_string();
    let tty = Tty::spawn(TESSERA, &["--socket", &socket], &[], 80, 24);
    tty.wait_for("● connected");
    tty
}

#[tokio::test]
async fn operator_toggles_guest_mode_disables_a_user_and_rotates_the_key() {
    let d = TestDaemon::start();
    let alice = d.register("alice").await;
    d.register("bob").await;
    let token = s(&alice, "accessToken");
    d.assert_live(&token).await;
    let mut tty = console(&d);

    // Settings: guest mode on.
    assert_eq!(d.send(d.client().post(d.url("/api/auth/guest"))).await.status, 403);
    tty.send(b"6");
    tty.wait_for("g guest on/off");
    tty.send(b"g");
    tty.wait_for("guest mode on");
    assert_eq!(d.send(d.client().post(d.url("/api/auth/guest"))).await.status, 200);

    // Users: find alice, disable her, confirm.
    tty.send(b"2");
    tty.wait_for("bob@example.com");
    tty.send(b"/");
    tty.typed("alice");
    tty.send(ENTER);
    tty.wait_for("Users (1 of 2)");
    tty.send(b"d");
    tty.wait_for("Disable alice (alice@example.com)?");
    tty.send(b"y");
    tty.wait_for("alice disabled");
    let me = d.get("/api/auth/me", Some(&token)).await;
    assert_eq!((me.status, me.code()), (401, "INVALID_TOKEN".to_owned()));

    // Settings: rotate the key, confirm.
    tty.send(b"6");
    tty.send(b"k");
    tty.wait_for("Rotate the signing key?");
    tty.send(ENTER);
    tty.wait_for("signing key rotated");
    let keys = d.get("/api/auth/keys", None).await.json();
    let statuses: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "retiring"]);
    tty.wait_for("retiring");

    tty.send(b"q");
    assert_eq!(tty.wait_exit(), 0);
}

#[tokio::test]
async fn the_audit_screen_tails_live_events() {
    let d = TestDaemon::start();
    let tty = console(&d);
    tty.send(b"5");
    tty.wait_for("Audit (0)");
    d.register("carol").await;
    let wrong = d
        .post_json("/api/auth/token", json!({"username": "carol", "password": "nope-nope"}))
        .await;
    assert_eq!(wrong.status, 401);
    let screen = tty.wait_for("login.failure");
    assert!(screen.contains("register"), "{screen}");
    // The filter narrows the tail.
    tty.send(b"/");
    tty.typed("failure");
    tty.wait_for("Audit (1 of 2)");
}

#[tokio::test]
async fn the_console_waits_for_a_daemon_and_recovers_after_a_crash_and_restart() {
    let d = TestDaemon::start();
    d.register("dave").await;
    let mut tty = console(&d);
    tty.send(b"2");
    tty.wait_for("dave@example.com");

    // A crash: the socket file stays behind, nobody answers on it.
    let dir = d.kill();
    tty.wait_for("○ reconnecting");
    let screen = tty.wait_for("cannot reach the daemon at");
    assert!(screen.contains("admin.sock"), "names the socket: {screen}");

    let d = TestDaemon::launch(dir, "", &[]);
    tty.wait_for("● connected");
    // Re-subscribed: on reconnecting the console subscribes and then reads the audit
    // tail again, so a first new event may come either way; once it shows, the tail's
    // answer is in, and a second event can only come through the new subscription.
    tty.send(b"5");
    let wrong = d
        .post_json("/api/auth/token", json!({"username": "dave", "password": "nope-nope"}))
        .await;
    assert_eq!(wrong.status, 401);
    tty.wait_for("login.failure");
    d.login("dave").await;
    tty.wait_for("login.success");
    // And actions work on the new connection.
    tty.send(b"6");
    tty.send(b"g");
    tty.wait_for("guest mode on");
    assert_eq!(d.send(d.client().post(d.url("/api/auth/guest"))).await.status, 200);
    tty.send(CTRL_C);
    assert_eq!(tty.wait_exit(), 0);
}

/// Runs the console under `sh`, recording `stty -g` before and after, and quits it
/// with `quit`; the terminal modes must be as they were.
fn modes_restored_after(quit: &[u8]) {
    let d = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    let script = format!(
        "stty -g > {before}; {tessera} --socket {socket}; code=$?; stty -g > {after}; exit $code",
        before = before.display(),
        after = after.display(),
        tessera = TESSERA,
        socket = d.socket.display()
    );
    let mut tty = Tty::spawn("sh", &["-c", &script], &[], 80, 24);
    tty.wait_for("● connected");
    // While it runs the terminal is raw, so the check below can tell.
    let during = std::process::Command::new("stty")
        .arg("-g")
        .stdin(std::fs::File::open(tty.device()).unwrap())
        .output()
        .unwrap();
    let before_modes = std::fs::read_to_string(&before).unwrap();
    assert_ne!(
        String::from_utf8_lossy(&during.stdout).trim(),
        before_modes.trim(),
        "raw mode while running"
    );
    tty.send(quit);
    assert_eq!(tty.wait_exit(), 0);
    assert_eq!(std::fs::read_to_string(&after).unwrap(), before_modes);
}

#[test]
fn q_restores_the_terminal() {
    modes_restored_after(b"q");
}

#[test]
fn ctrl_c_restores_the_terminal() {
    modes_restored_after(CTRL_C);
}

#[test]
fn without_a_terminal_the_console_points_to_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::harness::run_tessera(&dir.path().join("admin.sock"), &[], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("needs a terminal"), "{}", out.stderr);
}

/// `tessera user add` without `--password-stdin`, on a terminal: the password is asked
/// twice and never shown; two different ones change nothing.
#[tokio::test]
async fn user_add_on_a_terminal_asks_for_the_password_twice_without_showing_it() {
    let d = TestDaemon::start();
    let socket = d.socket.display().to_string();
    let add = |name: &str, first: &str, second: &str| {
        let email = format!("{name}@example.com");
        let args = ["--socket", &socket, "user", "add", name, "--email", &email];
        let mut tty = Tty::spawn(TESSERA, &args, &[], 80, 24);
        tty.wait_for(&format!("New password for {name}: "));
        tty.typed(first);
        tty.send(ENTER);
        tty.wait_for("Type it again: ");
        tty.typed(second);
        tty.send(ENTER);
        let code = tty.wait_exit();
        (code, tty.contents())
    };
    let (code, screen) = add("zoe", "zoe-typed-secret", "zoe-typed-secret");
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("zoe-typed-secret"), "echoed: {screen}");
    let login = json!({"username": "zoe", "password": "zoe-typed-secret"});
    assert_eq!(d.post_json("/api/auth/token", login).await.status, 200);

    let (code, screen) = add("yan", "first-try-secret", "second-try-secret");
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("the two passwords differ"), "{screen}");
    assert_eq!(d.tessera(&["user", "show", "yan"]).code, 1, "no user made");
}
