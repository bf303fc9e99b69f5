//! `TestDaemon`: the real `tesserad` binary as a child process, on 127.0.0.1:0 in a
//! temp dir with cheap Argon2, plus small HTTP helpers.

pub mod postgres;
pub mod smtp;
pub mod tty;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tempfile::TempDir;

/// The daemon binary built from daemon/src/main.rs inside this package.
pub const TESSERAD: &str = env!("CARGO_BIN_EXE_tesserad-under-test");
/// The console binary built from tui/src/main.rs inside this package.
pub const TESSERA: &str = env!("CARGO_BIN_EXE_tessera-under-test");

const BASE_CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
# Fixed, so tokens stay valid across a restart on another ephemeral port.
issuer = "http://tessera.test"
[argon2]
memory_kib = 64
iterations = 1
parallelism = 1
"#;

/// The issuer of every test daemon.
pub const ISSUER: &str = "http://tessera.test";

/// A running daemon and its data directory.
pub struct TestDaemon {
    child: Option<Child>,
    dir: Option<TempDir>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin socket.
    pub socket: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
    /// The configuration and environment it was started with, for restarts.
    extra: String,
    env: Vec<(String, String)>,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` code of an error body.
    pub fn code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts the status and the error code (app-facing `error` or OAuth `error`),
    /// showing the body when either differs.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code().as_str()), (status, code), "{}", self.text);
    }
}

fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (key, value) in extra {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Writes the test config (base + `extra`) for a daemon whose data lives in `dir`.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let mut table: toml::Table = BASE_CONFIG.parse().unwrap();
    let mut storage = toml::Table::new();
    storage.insert(
        "data_dir".into(),
        toml::Value::String(dir.join("data").display().to_string()),
    );
    table.insert("storage".into(), toml::Value::Table(storage));
    if !extra.contains("backend")
        && let Some(postgres) = postgres::for_dir(dir)
    {
        merge(&mut table, postgres.parse().unwrap());
    }
    merge(&mut table, extra.parse().expect("test config extra is valid TOML"));
    let path = dir.join("tessera.toml");
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    path
}

/// `tesserad --config CONFIG` with nothing from the test's environment that would
/// change it, text logs at `info`, and no stdin or stdout.
pub fn daemon_command(config: &Path) -> Command {
    daemon_args(Command::new(TESSERAD), config)
}

/// The same daemon, started by `prlimit` with at most `files` open files.
pub fn daemon_command_with_open_files(files: u64, config: &Path) -> Command {
    let mut prlimit = Command::new("prlimit");
    prlimit.arg(format!("--nofile={files}:{files}")).arg(TESSERAD);
    daemon_args(prlimit, config)
}

fn daemon_args(mut command: Command, config: &Path) -> Command {
    command
        .arg("--config")
        .arg(config)
        .env_remove("TESSERA_LISTEN")
        .env_remove("TESSERA_DATA_DIR")
        .env_remove("NOTIFY_SOCKET")
        .env("TESSERA_LOG", "info")
        .env("TESSERA_LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Spawns `command` (stderr piped), waits for its "listening on" log line (text or
/// JSON format) and keeps collecting its log lines.
pub fn spawn_listening(command: &mut Command) -> (Child, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let mut child = command.stderr(Stdio::piped()).spawn().expect("start tesserad");
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = Arc::clone(&logs);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let announced = line
                .split("listening on http://")
                .nth(1)
                .or_else(|| line.split("listening on https://").nth(1));
            let addr: Option<String> = announced.map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
                    .collect()
            });
            // Logged before the address is announced, so a test that saw the address
            // also sees the line.
            sink.lock().unwrap().push(line);
            if let Some(addr) = addr {
                let _ = tx.send(addr);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => (child, addr.parse().unwrap(), logs),
        Err(_) => {
            let _ = child.kill();
            panic!("tesserad did not start:\n{}", logs.lock().unwrap().join("\n"));
        }
    }
}

impl TestDaemon {
    /// A daemon on the test defaults.
    pub fn start() -> Self {
        Self::with("")
    }

    /// A daemon with `extra` TOML merged over the test defaults.
    pub fn with(extra: &str) -> Self {
        Self::launch(tempfile::tempdir().unwrap(), extra, &[])
    }

    /// Starts the daemon on `dir` (fresh or reused), waiting for its listening line.
    pub fn launch(dir: TempDir, extra: &str, env: &[(&str, &str)]) -> Self {
        let config = write_config(dir.path(), extra);
        let mut command = daemon_command(&config);
        for (k, v) in env {
            command.env(k, v);
        }
        let (child, addr, logs) = spawn_listening(&mut command);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let socket = dir.path().join("data/admin.sock");
        Self {
            child: Some(child),
            dir: Some(dir),
            base: format!("http://{addr}"),
            socket,
            logs,
            http,
            extra: extra.to_owned(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    /// Stops the daemon cleanly (SIGTERM) and starts it again on the same data,
    /// configuration and environment.
    pub fn restart(self) -> Self {
        let (extra, env) = (self.extra.clone(), self.env.clone());
        let dir = self.stop();
        Self::relaunch(dir, &extra, &env)
    }

    /// Kills the daemon (SIGKILL: nothing is flushed on the way out) and starts it
    /// again on the same data, configuration and environment.
    pub fn crash_restart(self) -> Self {
        let (extra, env) = (self.extra.clone(), self.env.clone());
        let dir = self.kill();
        Self::relaunch(dir, &extra, &env)
    }

    fn relaunch(dir: TempDir, extra: &str, env: &[(String, String)]) -> Self {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Self::launch(dir, extra, &env)
    }

    /// Waits up to five seconds for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends the daemon a signal (`kill` syntax: `-HUP`, …) and returns at once.
    pub fn kill_signal(&self, signal: &str) {
        let pid = self.child.as_ref().map(|c| c.id().to_string()).unwrap_or_default();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// Everything the daemon has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends `signal` and waits (at most ten seconds: shutdown is bounded) for the
    /// exit. The child stays owned until it has exited, so a failure kills it.
    fn signal(&mut self, signal: &str) -> ExitStatus {
        self.kill_signal(signal);
        let child = self.child.as_mut().unwrap();
        let status = wait_within(child, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("tesserad did not exit after {signal}; logs:\n{}", self.logs()));
        self.child = None;
        status
    }

    /// `POST /api/auth/api-tokens` with `bearer` (a session access token) and `body`.
    pub async fn create_api_token(&self, bearer: &str, body: Value) -> Resp {
        let request = self.http.post(self.url("/api/auth/api-tokens"));
        self.send(request.bearer_auth(bearer).json(&body)).await
    }

    /// Asserts that `token` (access or API token) is accepted by `/api/auth/me`.
    #[track_caller]
    pub fn assert_live(&self, token: &str) -> impl std::future::Future<Output = ()> + '_ {
        let token = token.to_owned();
        let caller = std::panic::Location::caller();
        async move {
            let me = self.get("/api/auth/me", Some(&token)).await;
            assert_eq!(me.status, 200, "expected a live token at {caller}: {}", me.text);
        }
    }

    /// Asserts that `token` is refused by `/api/auth/me` with 401 `INVALID_TOKEN`.
    #[track_caller]
    pub fn assert_dead(&self, token: &str) -> impl std::future::Future<Output = ()> + '_ {
        let token = token.to_owned();
        let caller = std::panic::Location::caller();
        async move {
            let me = self.get("/api/auth/me", Some(&token)).await;
            assert_eq!(
                (me.status, me.code().as_str()),
                (401, "INVALID_TOKEN"),
                "expected a dead token at {caller}: {}",
                me.text
            );
        }
    }

    /// SIGTERM; asserts a clean exit 0 and returns the data directory.
    pub fn stop(mut self) -> TempDir {
        let status = self.signal("-TERM");
        assert_eq!(
            status.code(),
            Some(0),
            "tesserad exit after SIGTERM; logs:\n{}",
            self.logs()
        );
        self.dir.take().unwrap()
    }

    /// SIGKILL (a crash); returns the data directory.
    pub fn kill(mut self) -> TempDir {
        self.signal("-KILL");
        self.dir.take().unwrap()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Resp { status, headers, text }
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(self.http.post(self.url(path)).form(form)).await
    }

    /// POST with a bearer token and no body.
    pub async fn post_bearer(&self, path: &str, token: &str) -> Resp {
        self.send(self.http.post(self.url(path)).bearer_auth(token)).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Resp {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// Presents a refresh token at `POST /api/auth/token/refresh`.
    pub async fn rotate(&self, refresh_token: impl AsRef<str>) -> Resp {
        self.post_json(
            "/api/auth/token/refresh",
            serde_json::json!({ "refreshToken": refresh_token.as_ref() }),
        )
        .await
    }

    /// Registers `name` (email `name@example.com`, password `password-of-name`).
    pub async fn register(&self, name: &str) -> Value {
        let resp = self
            .post_json(
                "/api/auth/register",
                serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": password(name)}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        resp.json()
    }

    /// Logs `name` in with its test password.
    pub async fn login(&self, name: &str) -> Value {
        let resp = self
            .post_json(
                "/api/auth/token",
                serde_json::json!({"username": name, "password": password(name)}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        resp.json()
    }
}

/// What a `tessera` run printed and returned.
#[derive(Debug)]
pub struct Console {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Console {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} / {}", self.stdout, self.stderr))
    }
}

impl TestDaemon {
    /// Runs the real `tessera` binary against this daemon's socket.
    pub fn tessera(&self, args: &[&str]) -> Console {
        run_tessera(&self.socket, args, None)
    }

    /// Runs `tessera` against another socket path.
    pub fn tessera_at(&self, socket: &Path, args: &[&str]) -> Console {
        run_tessera(socket, args, None)
    }

    /// Runs `tessera` with `stdin` as standard input.
    pub fn tessera_stdin(&self, args: &[&str], stdin: &str) -> Console {
        run_tessera(&self.socket, args, Some(stdin))
    }
}

/// Runs `tessera --socket SOCKET ARGS…` (at most 30 seconds).
pub fn run_tessera(socket: &Path, args: &[&str], stdin: Option<&str>) -> Console {
    let mut command = Command::new(TESSERA);
    command
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("TESSERA_SOCKET");
    let out = output_within(&mut command, stdin, Duration::from_secs(30));
    Console {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits up to `limit` for `child` to exit.
fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `command` to completion with `stdin` as its input, like `Command::output`,
/// but kills it and fails the test when it runs past `limit` (a daemon that should
/// have refused to start, a client that hangs).
pub fn output_within(command: &mut Command, stdin: Option<&str>, limit: Duration) -> std::process::Output {
    use std::io::{Read, Write};
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let Some(status) = wait_within(&mut child, limit) else {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
        panic!("{command:?} still running after {limit:?}; stderr:\n{stderr}");
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A child process that is killed and reaped when the test ends, even by a panic.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test password of `name`.
pub fn password(name: &str) -> String {
    format!("password-of-{name}")
}

/// A string member of a JSON value.
pub fn s(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
        .to_owned()
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a test's prerequisite (root, a system tool) is met. When it is not, the
/// test is skipped with a line on stderr, except under `TESSERA_TEST_STRICT=1`
/// (set by `.ci/run`, which installs the prerequisites), where it fails.
pub fn prerequisite(met: bool, what: &str) -> bool {
    if !met {
        assert!(
            std::env::var_os("TESSERA_TEST_STRICT").is_none(),
            "prerequisite missing under TESSERA_TEST_STRICT: {what}"
        );
        eprintln!("skipped: needs {what}");
    }
    met
}

/// False (after a line on stderr) when the suite runs on PostgreSQL: for a test of
/// what only the embedded store has (its files, backups, locks).
pub fn embedded_store() -> bool {
    if postgres::selected() {
        eprintln!("skipped: a test of the embedded store");
        return false;
    }
    true
}

/// True when the tests run as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Every byte of the store's files in the data directory `dir` (on PostgreSQL, every
/// row of every table as text), to check what is at rest.
pub fn stored_bytes(dir: &TempDir) -> Vec<u8> {
    if postgres::selected() {
        return postgres::every_row(dir.path()).into_bytes();
    }
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data/store")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    stored
}

/// The claims of a PASETO v4.public token, read without verifying it (the payload
/// is the claims followed by the 64-byte signature).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(2).expect("a v4.public token");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes[..bytes.len() - 64]).expect("JSON claims")
}
