//! TLS on the listener (`server.tls_cert_file`, `server.tls_key_file`): https with a
//! derived `https://` issuer, the certificate reloaded on SIGHUP without dropping open
//! connections, and unusable files refused by `check-config` and at start (exit 2).

use crate::harness::{ChildGuard, TESSERAD, daemon_command, output_within, spawn_listening, write_config};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A self-signed certificate for 127.0.0.1 and localhost, written as `NAME.crt` and
/// `NAME.key` in `dir`; returns its PEM (what a client must trust) and the paths.
pub(crate) fn certificate(dir: &Path, name: &str) -> (String, PathBuf, PathBuf) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    (cert.pem(), cert_path, key_path)
}

/// An HTTPS client that trusts only `pem`.
pub(crate) fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// The test configuration with TLS from `cert` and `key`, plus `extra` TOML.
pub(crate) fn tls_config(dir: &Path, cert: &Path, key: &Path, extra: &str) -> PathBuf {
    // An empty issuer derives it from the bound address, as without the setting.
    let tls = format!("[server]\nissuer = \"\"\ntls_cert_file = {cert:?}\ntls_key_file = {key:?}\n");
    write_config(dir, &format!("{tls}{extra}"))
}

/// Starts the daemon on `config`; returns it, its address and its log lines.
pub(crate) fn launch(config: &Path) -> (ChildGuard, std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let (child, addr, logs) = spawn_listening(&mut daemon_command(config));
    (ChildGuard(child), addr, logs)
}

/// Sends the daemon SIGHUP and waits until it logs `outcome`.
fn hang_up(daemon: &ChildGuard, logs: &Mutex<Vec<String>>, outcome: &str) {
    let pid = daemon.0.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !logs.lock().unwrap().join("\n").contains(outcome) {
        assert!(std::time::Instant::now() < deadline, "never logged {outcome:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn the_listener_serves_https_and_the_derived_issuer_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = certificate(dir.path(), "server");
    let (_daemon, addr, logs) = launch(&tls_config(dir.path(), &cert, &key, ""));
    assert!(
        logs.lock()
            .unwrap()
            .join("\n")
            .contains(&format!("listening on https://{addr}"))
    );
    let client = trusting(&pem);
    let base = format!("https://{addr}");
    let metadata: serde_json::Value = client
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], base);
    assert_eq!(metadata["token_endpoint"], format!("{base}/oauth/token"));
    let body = json!({"username": "alice", "email": "alice@example.com", "password": "password-of-alice"});
    let registered = client
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let refused = plain.get(format!("http://{addr}/healthz")).send().await;
    assert!(
        refused.is_err() || !refused.unwrap().status().is_success(),
        "plain HTTP is not served"
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_open_connections_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let (first, cert, key) = certificate(dir.path(), "server");
    let (daemon, addr, logs) = launch(&tls_config(dir.path(), &cert, &key, ""));
    let health = format!("https://{addr}/healthz");
    let healthy = |client: reqwest::Client| {
        let health = health.clone();
        async move { client.get(&health).send().await.is_ok_and(|r| r.status().is_success()) }
    };
    let open = trusting(&first);
    assert!(healthy(open.clone()).await);
    // Replace the files, then signal.
    let (second, new_cert, new_key) = certificate(dir.path(), "next");
    std::fs::rename(&new_cert, &cert).unwrap();
    std::fs::rename(&new_key, &key).unwrap();
    hang_up(&daemon, &logs, "reloaded the TLS certificate");
    assert!(
        healthy(trusting(&second)).await,
        "new connections get the new certificate"
    );
    assert!(!healthy(trusting(&first)).await, "and not the old one");
    assert!(
        healthy(open).await,
        "the connection opened before the reload still works"
    );
    // A reload that fails keeps the certificate in use.
    std::fs::write(&cert, "not a certificate").unwrap();
    hang_up(&daemon, &logs, "kept the TLS certificate in use");
    assert!(healthy(trusting(&second)).await);
}

#[tokio::test]
async fn without_tls_a_sighup_changes_nothing() {
    let d = crate::harness::TestDaemon::start();
    d.kill_signal("-HUP");
    assert!(d.wait_for_log("no TLS certificate to reload"), "{}", d.logs());
    d.register("alice").await;
}

#[test]
fn unusable_certificate_files_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = certificate(dir.path(), "server");
    let (_, _, other_key) = certificate(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not PEM").unwrap();
    let missing = dir.path().join("missing.pem");
    for (cert, key, named) in [
        (&missing, &key, "server.tls_cert_file"),
        (&garbage, &key, "server.tls_cert_file"),
        (&cert, &garbage, "server.tls_key_file"),
        (&cert, &other_key, "server.tls_key_file"),
    ] {
        let config = tls_config(dir.path(), cert, key, "");
        for args in [&["check-config", "--config"][..], &["--config"][..]] {
            let mut command = Command::new(TESSERAD);
            command.args(args).arg(&config).env_remove("TESSERA_DATA_DIR");
            let out = output_within(&mut command, None, Duration::from_secs(30));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {cert:?} {key:?}: {stderr}");
            assert!(stderr.contains(named), "{args:?} names {named}: {stderr}");
        }
    }
    let half = write_config(dir.path(), &format!("[server]\ntls_cert_file = {cert:?}\n"));
    let out = output_within(
        Command::new(TESSERAD).arg("check-config").arg("--config").arg(&half),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.tls_key_file"));
}
