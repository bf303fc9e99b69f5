//! Real OpenID Connect relying parties against a daemon over HTTPS, with no insecure
//! switch: panva's strict `openid-client` (`tests/js/oidc.mjs`, EdDSA ID tokens) and
//! Python's Authlib (`tests/py/oidc_authlib.py`, RS256). Each runs discovery, the code
//! flow with PKCE and a nonce (this test plays the person at the browser), checks the
//! ID token against the JWKS, calls UserInfo, refreshes, and builds the sign-out URL,
//! which the browser then follows.

use crate::authorize::Browser;
use crate::harness::{password, prerequisite, run_tessera, s};
use crate::node::{js_dir, node};
use crate::tls::{certificate, launch, tls_config};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const REDIRECT_URI: &str = "https://app.example.com/cb";

/// An HTTPS daemon with alice and a confidential client `rp` signing ID tokens with
/// `alg`; runs `program` against it and returns what it printed.
async fn relying_party(mut program: Command, alg: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = certificate(dir.path(), "server");
    let (_daemon, addr, _logs) = launch(&tls_config(dir.path(), &cert, &key, ""));
    let issuer = format!("https://{addr}");
    let socket = dir.path().join("data/admin.sock");
    let created = run_tessera(
        &socket,
        &[
            "client",
            "add",
            "rp",
            "--scopes",
            "openid profile email",
            "--redirect-uri",
            REDIRECT_URI,
            "--post-logout-redirect-uri",
            REDIRECT_URI,
            "--id-token-alg",
            alg,
            "--json",
        ],
        None,
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let http = reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let body = serde_json::json!({"username": "alice", "email": "alice@example.com", "password": password("alice")});
    let registered = http
        .post(format!("{issuer}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    program
        .env("TESSERA_ISSUER", &issuer)
        .env("CLIENT_ID", "rp")
        .env("CLIENT_SECRET", s(&created.json(), "clientSecret"))
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("ID_TOKEN_ALG", alg)
        .env("NODE_EXTRA_CA_CERTS", &cert)
        .env("REQUESTS_CA_BUNDLE", &cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = program.spawn().unwrap();
    let watchdog = Watchdog::new(child.id());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let Some(url) = first.trim().strip_prefix("Open ") else {
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        panic!("no authorization URL: {first}\n{stderr}");
    };

    // The person signs in and allows the app; the browser is sent back to it.
    let browser = Browser::at(&issuer, http);
    let login = browser.get(url.strip_prefix(&issuer).expect("the daemon's URL")).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let mut answer = browser
        .submit(&login, &[("username", "alice"), ("password", &password("alice"))])
        .await;
    if answer.status == 200 && answer.text.contains("Allow") {
        answer = browser.submit(&answer, &[("decision", "allow")]).await;
    }
    assert_eq!(answer.status, 303, "{}", answer.text);
    let back = answer.header("location").unwrap().to_owned();
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    writeln!(child.stdin.take().unwrap(), "{back}").unwrap();

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    drop(watchdog);
    assert!(status.success(), "{rest}\n{stderr}");

    // The sign-out URL it built ends the browser session and comes back with its state.
    let logout = rest
        .lines()
        .find_map(|l| l.strip_prefix("Logout "))
        .unwrap_or_else(|| panic!("no sign-out URL: {rest}"));
    let page = browser
        .get(logout.strip_prefix(&issuer).expect("the daemon's URL"))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let out = browser.submit(&page, &[]).await;
    assert_eq!(out.status, 303, "{}", out.text);
    let state = logout.split("state=").nth(1).unwrap().split('&').next().unwrap();
    assert_eq!(out.header("location").unwrap(), format!("{REDIRECT_URI}?state={state}"));
    rest
}

/// Kills a process that has not finished within a minute, so that a relying party
/// waiting on something that never comes fails the test instead of hanging it.
struct Watchdog(std::sync::mpsc::Sender<()>);

impl Watchdog {
    fn new(pid: u32) -> Self {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if wait.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        });
        Self(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_signs_in_with_eddsa_id_tokens() {
    let Some(mut node) = node() else {
        return;
    };
    let installed = js_dir().join("node_modules/openid-client/package.json").is_file();
    if !prerequisite(installed, "npm ci --prefix tests/js (openid-client)") {
        return;
    }
    node.arg(js_dir().join("oidc.mjs"));
    let printed = relying_party(node, "EdDSA").await;
    assert!(printed.contains("openid-client: ok"), "{printed}");
    assert!(printed.contains("EdDSA ID token"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_signs_in_with_rs256_id_tokens() {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/.venv/bin/python");
    let installed = Path::new(&python).is_file()
        && Command::new(&python)
            .args(["-c", "import authlib, joserfc"])
            .status()
            .is_ok_and(|s| s.success());
    if !prerequisite(installed, "tests/py/.venv with tests/py/requirements.txt (authlib)") {
        return;
    }
    let mut program = Command::new(python);
    program.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/oidc_authlib.py"));
    let printed = relying_party(program, "RS256").await;
    assert!(printed.contains("authlib: ok"), "{printed}");
    assert!(printed.contains("RS256 ID token"), "{printed}");
}
