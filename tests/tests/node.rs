//! Node.js programs against a live daemon over HTTPS (`tests/js/`, installed by
//! `.ci/run` with `npm ci`): panva's strict `oauth4webapi` client through discovery,
//! client_credentials (Basic and post), introspection, the password and refresh
//! grants, revocation and a wrong secret.

use crate::harness::{output_within, password, prerequisite, run_tessera, s};
use crate::tls::{certificate, launch, tls_config, trusting};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `tests/js`, with its packages.
pub(crate) fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// The major version `node --version` prints (`v20.11.1` gives 20); `None` when node
/// is missing, fails, or prints something else.
fn node_major() -> Option<u32> {
    let out = Command::new("node").arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let version = String::from_utf8_lossy(&out.stdout);
    version.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

/// `node`, with WebCrypto on the global object where Node 18 needs a flag for it; `None`
/// (a skipped test, or a failure under `TESSERA_TEST_STRICT`) without a Node.js whose
/// `node --version` parses, or without the packages.
pub(crate) fn node() -> Option<Command> {
    let major = node_major();
    if !prerequisite(major.is_some(), "Node.js: `node --version` printing vMAJOR.MINOR.PATCH") {
        return None;
    }
    let installed = js_dir().join("node_modules/oauth4webapi/package.json").is_file();
    if !prerequisite(installed, "npm ci --prefix tests/js") {
        return None;
    }
    let mut command = Command::new("node");
    if major.is_some_and(|major| major < 19) {
        command.arg("--experimental-global-webcrypto");
    }
    Some(command)
}

#[tokio::test]
async fn oauth4webapi_interop() {
    // node() has reported what is missing (and failed under TESSERA_TEST_STRICT).
    let Some(mut node) = node() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = certificate(dir.path(), "server");
    let config = tls_config(dir.path(), &cert, &key, "[oauth]\npassword_grant = true\n");
    let (_daemon, addr, _logs) = launch(&config);
    let issuer = format!("https://{addr}");
    let socket = dir.path().join("data/admin.sock");
    let created = run_tessera(
        &socket,
        &["client", "add", "interop", "--scopes", "read write", "--json"],
        None,
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let body = json!({"username": "alice", "email": "alice@example.com", "password": password("alice")});
    let registered = trusting(&pem)
        .post(format!("{issuer}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    node.arg(js_dir().join("interop.mjs"))
        .env("TESSERA_ISSUER", &issuer)
        .env("CLIENT_ID", "interop")
        .env("CLIENT_SECRET", s(&created.json(), "clientSecret"))
        .env("USERNAME", "alice")
        .env("PASSWORD", password("alice"))
        .env("NODE_EXTRA_CA_CERTS", &cert);
    let out = output_within(&mut node, None, Duration::from_secs(60));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("oauth4webapi interop: ok"), "{stdout}\n{stderr}");
}
