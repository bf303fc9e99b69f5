//! The examples in `README.md` and `docs/integrating.md`, run exactly as printed against
//! a live daemon: each fenced block after an `<!-- example: NAME -->` line is saved as
//! NAME and run, Python in the venv `.ci/run` makes (`tests/py/.venv`, from
//! `tests/py/requirements.txt`), JavaScript with the packages of `tests/js`, shell under
//! `bash` with `tessera`, curl, jq and python3. The verifiers must print the claims of a
//! good token and fail on a forged one; the README's shell examples must each run alone,
//! in the order printed and in reverse.

use crate::harness::{ISSUER, TestDaemon, output_within, prerequisite, s};
use crate::node::{js_dir, node};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The `(name, code)` of every marked example in `markdown`.
fn examples(markdown: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("<!-- example: ").and_then(|l| l.strip_suffix(" -->")) else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "{name}: a fenced block must follow the marker"
        );
        let code: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        found.push((name.to_owned(), code.join("\n") + "\n"));
    }
    found
}

/// How to run example `name` saved in `dir`, or `None` when its runtime is missing.
fn runner(name: &str, dir: &Path) -> Option<Command> {
    let path = dir.join(name);
    if name.ends_with(".py") {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py/.venv/bin/python");
        if !prerequisite(python.is_file(), "tests/py/.venv with tests/py/requirements.txt") {
            return None;
        }
        let mut command = Command::new(python);
        command.arg(path);
        Some(command)
    } else if name.ends_with(".mjs") {
        // ES modules find packages in node_modules beside them or above.
        let modules = dir.join("node_modules");
        if !modules.exists() {
            std::os::unix::fs::symlink(js_dir().join("node_modules"), modules).unwrap();
        }
        let mut command = node()?;
        command.arg(path);
        Some(command)
    } else {
        panic!("no runner for example {name}")
    }
}

#[tokio::test]
async fn the_integration_guide_examples_verify_live_tokens_and_refuse_forged_ones() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/integrating.md")).unwrap();
    let found: Vec<(String, String)> = examples(&guide)
        .into_iter()
        .filter(|(name, _)| name.starts_with("verify."))
        .collect();
    let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["verify.py", "verify.mjs"]);
    let d = TestDaemon::start();
    let login = d.register("alice").await;
    let token = s(&login, "accessToken");
    let user_id = login["user"]["id"].as_str().unwrap().to_owned();
    // The same token with one payload character changed: the signature no longer holds.
    let mut forged = token.clone().into_bytes();
    let at = "v4.public.".len() + 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for (name, code) in &found {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), code).unwrap();
        for (presented, good) in [(&token, true), (&forged, false)] {
            let Some(mut command) = runner(name, dir.path()) else {
                return;
            };
            command.env("TESSERA", &d.base).env("TOKEN", presented);
            let out = output_within(&mut command, None, Duration::from_secs(60));
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(
                out.status.success(),
                good,
                "{name}, good token: {good}\n{stdout}\n{stderr}"
            );
            if good {
                let claims: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
                assert_eq!(claims["sub"], user_id.as_str(), "{name}");
                assert_eq!(claims["iss"], ISSUER, "{name}");
            }
        }
    }
}

/// The shell examples (`.sh`) of `markdown`, in order.
fn shell_examples(markdown: &str) -> Vec<(String, String)> {
    examples(markdown)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".sh"))
        .collect()
}

/// The contents of `path`, relative to the repository's top directory.
fn read_doc(path: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

/// Whether the tools the shell examples call besides `tessera` run; each missing one
/// is reported (a skipped test, or a failure under `TESSERA_TEST_STRICT`).
fn shell_tools() -> bool {
    ["bash", "curl", "jq", "python3"].into_iter().all(|tool| {
        let runs = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        prerequisite(runs, tool)
    })
}

/// Runs `blocks` one after another as one `bash` session against `d`, as a reader
/// pasting them into one terminal would; returns what they printed. They run in an
/// empty directory, which they must leave empty (temporary files go under `mktemp`,
/// here in a directory of the test's).
fn run_shell(d: &TestDaemon, blocks: &[(String, String)]) -> String {
    // `tessera` on the PATH, as the README's install puts it there.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(crate::harness::TESSERA, bin.path().join("tessera")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let address = d.base.trim_start_matches("http://");
    let script: String = blocks.iter().map(|(_, code)| code.as_str()).collect();
    let script = format!(
        "set -eu\n{}",
        script
            .replace("http://127.0.0.1:8080", &d.base)
            .replace("localhost:8080", address)
    );
    let cwd = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(&script)
        .current_dir(cwd.path())
        .env("PATH", &path)
        .env("TMPDIR", tmp.path())
        .env("TESSERA_SOCKET", &d.socket);
    let out = output_within(&mut bash, None, Duration::from_secs(120));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{script}\n{stdout}\n{stderr}");
    let left: Vec<String> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "the examples left {left:?} in the working directory");
    stdout.into_owned()
}

fn assert_printed(stdout: &str, needles: &[&str]) {
    for needle in needles {
        assert!(stdout.contains(needle), "no {needle} in:\n{stdout}");
    }
}

/// The README's shell examples, in the order printed, and what each must print.
const README_SHELL: &[(&str, &[&str])] = &[
    (
        "walkthrough.sh",
        &["\"username\":\"alice\"", "HTTP/1.1 204", "INVALID_TOKEN", "k4.public."],
    ),
    ("oauth.sh", &["\"active\":true"]),
    (
        "sign-in.sh",
        &[
            "callback?code=tsr_ac_",
            "\"token_type\":\"Bearer\"",
            "\"username\":\"bob\"",
        ],
    ),
    (
        "two-step.sh",
        &[
            "otpauth://totp/Tessera:dana?secret=",
            "\"methods\":[\"totp\",\"recovery\"]",
            "{\"user\":\"dana\"}",
            "204",
        ],
    ),
    (
        "subcommands.sh",
        &["registration: closed", "registration: open", "backup written to "],
    ),
];

/// What the integration guide's shell steps must print.
const GUIDE_SHELL: &[&str] = &["client secret: tsr_cs_", "\"active\":true", "\"token_type\":\"Bearer\""];

/// The README's shell examples, checked to be those of [`README_SHELL`].
fn readme_shell_examples() -> Vec<(String, String)> {
    let blocks = shell_examples(&read_doc("README.md"));
    let names: Vec<&str> = blocks.iter().map(|(name, _)| name.as_str()).collect();
    let expected: Vec<&str> = README_SHELL.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected);
    blocks
}

/// Asserts that `stdout` holds what each of `blocks` must print.
fn assert_readme_printed(stdout: &str, blocks: &[(String, String)]) {
    for (name, _) in blocks {
        let (_, needles) = README_SHELL.iter().find(|(known, _)| *known == name.as_str()).unwrap();
        assert_printed(stdout, needles);
    }
}

/// The README's quick start is the default daemon, on the embedded store (whose online
/// backup it shows).
fn readme_daemon() -> TestDaemon {
    TestDaemon::with("[storage]\nbackend = \"sled\"\n")
}

/// As a reader goes: the README's shell examples in the order printed, then the
/// integration guide's shell steps on the same daemon (its token is alice's, from the
/// walk-through, who must still be able to log in).
#[tokio::test]
async fn the_readme_shell_examples_run_as_printed_and_the_guide_after_them() {
    if !shell_tools() {
        return;
    }
    let blocks = readme_shell_examples();
    let d = readme_daemon();
    let stdout = run_shell(&d, &blocks);
    assert_readme_printed(&stdout, &blocks);
    let guide = shell_examples(&read_doc("docs/integrating.md"));
    let stdout = run_shell(&d, &guide);
    assert_printed(&stdout, GUIDE_SHELL);
}

/// No README shell example leans on what an earlier one made or changed.
#[tokio::test]
async fn the_readme_shell_examples_run_in_reverse_order() {
    if !shell_tools() {
        return;
    }
    let mut blocks = readme_shell_examples();
    blocks.reverse();
    let d = readme_daemon();
    let stdout = run_shell(&d, &blocks);
    assert_readme_printed(&stdout, &blocks);
}

/// Each README shell example runs alone against a fresh daemon.
#[tokio::test]
async fn each_readme_shell_example_runs_alone() {
    if !shell_tools() {
        return;
    }
    for block in readme_shell_examples() {
        let d = readme_daemon();
        let block = std::slice::from_ref(&block);
        let stdout = run_shell(&d, block);
        assert_readme_printed(&stdout, block);
    }
}

#[tokio::test]
async fn the_integration_guide_shell_examples_run_as_printed() {
    if !shell_tools() {
        return;
    }
    let guide = read_doc("docs/integrating.md");
    let d = TestDaemon::start();
    // The README's walk-through registered her.
    let body =
        serde_json::json!({"username": "alice", "email": "alice@example.com", "password": "correct horse battery"});
    assert_eq!(d.post_json("/api/auth/register", body).await.status, 201);
    let blocks = shell_examples(&guide);
    let names: Vec<&str> = blocks.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["client.sh", "token.sh", "introspect.sh", "client-credentials.sh"]
    );
    let stdout = run_shell(&d, &blocks);
    assert_printed(&stdout, GUIDE_SHELL);
}

/// Starts the guide's example `name` with `env`; returns it and its first line.
fn start_example(name: &str, code: &str, dir: &Path, env: &[(&str, &str)]) -> Option<(std::process::Child, String)> {
    use std::io::BufRead;
    std::fs::write(dir.join(name), code).unwrap();
    let mut command = runner(name, dir)?;
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    Some((child, first.trim().to_owned()))
}

/// Signs alice in at the page `url` leads to (allowing the app if asked) and returns
/// where Tessera sends the browser back to.
async fn sign_in_at(d: &TestDaemon, url: &str) -> String {
    let browser = crate::authorize::Browser::new(d);
    let login = browser.get(url.strip_prefix(&d.base).expect("the daemon's URL")).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let mut answer = browser
        .submit(&login, &[("username", "alice"), ("password", "correct horse battery")])
        .await;
    if answer.status == 200 && answer.text.contains("Allow") {
        answer = browser.submit(&answer, &[("decision", "allow")]).await;
    }
    assert_eq!(answer.status, 303, "{}", answer.text);
    answer.header("location").unwrap().to_owned()
}

fn finish(child: std::process::Child, name: &str) -> String {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{name}\n{stdout}\n{stderr}");
    stdout.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integration_guide_sign_in_examples_complete_the_flow() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/integrating.md")).unwrap();
    let found: std::collections::HashMap<String, String> = examples(&guide).into_iter().collect();
    // The issuer is the daemon's own address, so the metadata's endpoints are reachable.
    let d = TestDaemon::with("[server]\nissuer = \"\"\n");
    let body =
        serde_json::json!({"username": "alice", "email": "alice@example.com", "password": "correct horse battery"});
    assert_eq!(d.post_json("/api/auth/register", body).await.status, 201);
    let add = |args: &[&str]| {
        let out = d.tessera(&[&["client", "add"], args, &["--json"]].concat());
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()
    };
    add(&[
        "notes-cli",
        "--scopes",
        "read",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ]);
    let web = add(&[
        "notes-web",
        "--scopes",
        "read",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ]);
    let secret = s(&web, "clientSecret");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let Some((native, first)) = start_example("native.py", &found["native.py"], dir.path(), &[("TESSERA", &d.base)])
    else {
        return;
    };
    let back = sign_in_at(&d, first.strip_prefix("Open ").expect("the URL to open")).await;
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    assert_eq!(http.get(&back).send().await.unwrap().status(), 200);
    let printed: serde_json::Value = serde_json::from_str(finish(native, "native.py").trim()).unwrap();
    assert_eq!(
        printed,
        serde_json::json!({"username": "alice", "scope": "read", "refresh": true})
    );

    let started = start_example(
        "webapp.py",
        &found["webapp.py"],
        dir.path(),
        &[("TESSERA", &d.base), ("CLIENT_SECRET", &secret)],
    );
    let (webapp, first) = started.unwrap();
    let app = first
        .strip_prefix("Listening on ")
        .expect("the app's address")
        .to_owned();
    let login = http.get(format!("{app}/login")).send().await.unwrap();
    assert_eq!(login.status(), 303);
    let to_tessera = login.headers()["location"].to_str().unwrap().to_owned();
    let back = sign_in_at(&d, &to_tessera).await;
    let page = http.get(&back).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "Signed in as alice");
    finish(webapp, "webapp.py");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_openid_connect_example_signs_in_and_checks_the_id_token() {
    let readme = read_doc("README.md");
    let found: std::collections::HashMap<String, String> = examples(&readme).into_iter().collect();
    // The issuer is the daemon's own address, so the discovered endpoints are reachable.
    let d = TestDaemon::with("[server]\nissuer = \"\"\n");
    let body =
        serde_json::json!({"username": "alice", "email": "alice@example.com", "password": "correct horse battery"});
    let registered = d.post_json("/api/auth/register", body).await;
    assert_eq!(registered.status, 201);
    let out = d.tessera(&[
        "client",
        "add",
        "notes-oidc",
        "--scopes",
        "openid profile email",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let Some((app, first)) = start_example("oidc.py", &found["oidc.py"], dir.path(), &[("TESSERA", &d.base)]) else {
        return;
    };
    let back = sign_in_at(&d, first.strip_prefix("Open ").expect("the URL to open")).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(http.get(&back).send().await.unwrap().status(), 200);
    let printed: serde_json::Value = serde_json::from_str(finish(app, "oidc.py").trim()).unwrap();
    assert_eq!(
        printed,
        serde_json::json!({
            "sub": registered.json()["user"]["id"],
            "preferred_username": "alice",
            "email": "alice@example.com",
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integration_guide_id_token_examples_verify_live_id_tokens_and_refuse_forged_ones() {
    let guide = read_doc("docs/integrating.md");
    let found: Vec<(String, String)> = examples(&guide)
        .into_iter()
        .filter(|(name, _)| name.starts_with("id-token."))
        .collect();
    let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["id-token.py", "id-token.mjs"]);
    // The issuer is the daemon's own address, so the discovered jwks_uri is reachable.
    let d = TestDaemon::with("[server]\nissuer = \"\"\n");
    let alice = d.register("alice").await;
    let browser = crate::authorize::Browser::new(&d);
    let mut tokens = Vec::new();
    for (client, alg) in [("rs-app", "RS256"), ("ed-app", "EdDSA")] {
        let app = crate::oidc::oidc_client(&d, client, "openid profile", &["--first-party", "--id-token-alg", alg]);
        let answer = crate::oidc::code_flow(&d, &browser, &app, "&scope=openid%20profile", "alice").await;
        tokens.push((client, s(&answer, "id_token")));
    }
    for (name, code) in &found {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), code).unwrap();
        for (client, token) in &tokens {
            // One character of the claims changed: the signature no longer holds.
            let mut forged = token.clone().into_bytes();
            let at = token.find('.').unwrap() + 10;
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            for (presented, good) in [(token, true), (&forged, false)] {
                let Some(mut command) = runner(name, dir.path()) else {
                    return;
                };
                command
                    .env("TESSERA", &d.base)
                    .env("ID_TOKEN", presented)
                    .env("CLIENT_ID", client);
                let out = output_within(&mut command, None, Duration::from_secs(60));
                let (stdout, stderr) = (
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                );
                assert_eq!(
                    out.status.success(),
                    good,
                    "{name}, {client}, good: {good}\n{stdout}\n{stderr}"
                );
                if good {
                    let claims: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
                    assert_eq!(claims["sub"], alice["user"]["id"], "{name}");
                    assert_eq!(
                        (claims["aud"].as_str(), claims["iss"].as_str()),
                        (Some(*client), Some(d.base.as_str()))
                    );
                    assert_eq!(claims["preferred_username"], "alice", "{name}");
                }
            }
            // The right token for another client: refused (the audience).
            let Some(mut command) = runner(name, dir.path()) else {
                return;
            };
            command
                .env("TESSERA", &d.base)
                .env("ID_TOKEN", token)
                .env("CLIENT_ID", "someone-else");
            let out = output_within(&mut command, None, Duration::from_secs(60));
            assert!(!out.status.success(), "{name}: another audience");
        }
    }
}
