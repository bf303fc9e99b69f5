//! The email flows with the file transport (see README, "Email"): verification and reset
//! links from the `.eml` files the daemon writes, their single use and expiry, the
//! answers that reveal nothing about unknown addresses, the reset's revocations and
//! notice, the verified-address gate, `max_per_hour`, `exists`, the SMTP checks of
//! `check-config`, and real SMTP conversations with a sink (STARTTLS to a private
//! CA, AUTH, a retried refusal, a permanent one).

use crate::harness::smtp::{Behaviour, Delivered, Sink, SinkTls};
use crate::harness::{ISSUER, TESSERAD, TestDaemon, output_within, password, s, write_config};
use crate::oauth::{client, introspect, post};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The daemon's outbox (`mail.dir` defaults to `<data_dir>/outbox`).
fn outbox(d: &TestDaemon) -> PathBuf {
    d.socket.parent().unwrap().join("outbox")
}

/// The messages written so far, oldest first (file names start with the time).
fn messages(d: &TestDaemon) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(outbox(d)) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

/// Waits up to five seconds for the `n`-th message and returns it.
async fn message(d: &TestDaemon, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(m) = messages(d).into_iter().nth(n - 1) {
            return m;
        }
        assert!(Instant::now() < deadline, "no message {n} in {:?}", outbox(d));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The account whose reset messages [`no_more_than`] uses as a barrier: a test that
/// calls it registers this name first (`marker@example.com`).
const MARKER: &str = "marker";

/// Whether `message` is one of the barrier's (see [`no_more_than`]).
fn is_marker(message: &str) -> bool {
    message.contains(&format!("To: {MARKER}@example.com"))
}

/// Checks that no more than `n` messages, markers aside, were written for what the
/// test did so far, once a later message has come through the same pipeline: asks
/// for a reset message to [`MARKER`] (an enabled account with messages to spare),
/// waits for it in the same outbox, and only then counts.
///
/// Not strictly ordered, so not a proof for every interleaving: the queue is one FIFO
/// channel with one drain, but a forgotten-password or verification request by
/// address looks its account up and queues in a task of its own, and the drain sends
/// up to 8 messages at once, each in a task of its own. What it does guarantee: the
/// marker is asked for only after the answer to the request that must send nothing,
/// and then takes the same path (lookup, link, queue, drain, transport), so a message
/// that request made had a head start of at least one round trip and the marker's
/// whole journey; a slow pipeline makes this wait longer instead of passing. A stray
/// message written after the marker could slip through; a sound daemon never fails
/// the check.
async fn no_more_than(d: &TestDaemon, n: usize) {
    let markers = |all: &Vec<String>| all.iter().filter(|m| is_marker(m)).count();
    let earlier = markers(&messages(d));
    let asked = forgot(d, &format!("{MARKER}@example.com")).await;
    assert_eq!(
        asked.status, 202,
        "the barrier's reset message is asked for: {}",
        asked.text
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let all = loop {
        let all = messages(d);
        if markers(&all) > earlier {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "the barrier's message to {MARKER}@example.com never came, so the outbox proves nothing: {:?}",
            outbox(d)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let others: Vec<&String> = all.iter().filter(|m| !is_marker(m)).collect();
    assert_eq!(
        others.len(),
        n,
        "by the time the barrier's message came, only the {n} expected messages had been sent: {others:?}"
    );
}

/// The token with `prefix` in a message (its text part is sent as written).
fn token(message: &str, prefix: &str) -> String {
    let start = message
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {message}"));
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn verify(d: &TestDaemon, token: &str) -> crate::harness::Resp {
    d.post_json("/api/auth/verify-email", json!({ "token": token })).await
}

async fn forgot(d: &TestDaemon, email: &str) -> crate::harness::Resp {
    d.post_json("/api/auth/password/forgot", json!({ "email": email }))
        .await
}

async fn reset(d: &TestDaemon, token: &str, new_password: &str) -> crate::harness::Resp {
    d.post_json(
        "/api/auth/password/reset",
        json!({ "token": token, "newPassword": new_password }),
    )
    .await
}

#[tokio::test]
async fn a_registration_link_verifies_the_address_once_and_again_for_scanners() {
    let d = TestDaemon::with("[mail]\nverify_on_register = true\nfrom = \"Acme Accounts <accounts@acme.test>\"\n");
    let alice = d.register("alice").await;
    let mail = message(&d, 1).await;
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    assert!(mail.contains("From: \"Acme Accounts\" <accounts@acme.test>"), "{mail}");
    assert!(mail.contains("Acme Accounts"), "the app's name: {mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"), "{mail}");
    let link = token(&mail, "tsr_ve_");
    assert!(
        mail.contains(&format!("{ISSUER}/api/auth/verify-email/{link}")),
        "{mail}"
    );
    assert!(link.len() >= "tsr_ve_".len() + 43, "256 bits: {link}");

    // A browser opening the link gets a page; the address is verified.
    let opened = d
        .send(
            d.client()
                .get(d.url(&format!("/api/auth/verify-email/{link}")))
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        )
        .await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    assert!(opened.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        opened.text.contains("alice@example.com is confirmed"),
        "{}",
        opened.text
    );
    assert_eq!(opened.header("referrer-policy"), Some("no-referrer"));
    let me = d.get("/api/auth/me", Some(&s(&alice, "accessToken"))).await.json();
    assert_eq!(me["emailVerified"], json!(true), "{me}");
    // Used, on a still-verified address: success again (JSON for a client).
    let again = verify(&d, &link).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["user"]["emailVerified"], json!(true));
    // Unknown and malformed tokens.
    verify(&d, "tsr_ve_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .expect_error(400, "INVALID_LINK");
    verify(&d, "not-a-link").await.expect_error(400, "INVALID_LINK");
    let listed = d.tessera(&["user", "list", "--json"]).json();
    assert_eq!(listed[0]["emailVerified"], json!(true));
    assert!(
        d.tessera(&["user", "show", "alice"])
            .stdout
            .contains("email verified  true")
    );
}

#[tokio::test]
async fn a_session_asks_for_verification_and_other_tokens_may_not() {
    let d = TestDaemon::with("[guest]\nenabled = true\n");
    let bob = d.register("bob").await;
    d.register(MARKER).await;
    let access = s(&bob, "accessToken");
    let asked = d.post_bearer("/api/auth/verify-email/request", &access).await;
    assert_eq!(
        (asked.status, asked.json()),
        (202, json!({"status": "ok"})),
        "{}",
        asked.text
    );
    let link = token(&message(&d, 1).await, "tsr_ve_");
    assert_eq!(verify(&d, &link).await.status, 200);
    // Verified now: asking again sends nothing.
    d.post_bearer("/api/auth/verify-email/request", &access).await;
    no_more_than(&d, 1).await;
    let api = d.create_api_token(&access, json!({"name": "ci"})).await.json();
    d.post_bearer("/api/auth/verify-email/request", &s(&api, "token"))
        .await
        .expect_error(403, "INSUFFICIENT_SCOPE");
    let guest = d.post_json("/api/auth/guest", json!({})).await.json();
    d.post_bearer("/api/auth/verify-email/request", &s(&guest, "accessToken"))
        .await
        .expect_error(403, "INSUFFICIENT_SCOPE");
}

#[tokio::test]
async fn links_expire_and_a_newer_use_voids_the_others() {
    let d = TestDaemon::with("[mail]\nverify_ttl = \"1s\"\n");
    d.register("carol").await;
    let ask = || d.post_json("/api/auth/verify-email/request", json!({"email": "carol@example.com"}));
    assert_eq!(ask().await.status, 202);
    let first = token(&message(&d, 1).await, "tsr_ve_");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verify(&d, &first).await.expect_error(400, "INVALID_LINK");

    // Two reset links: using one voids the other; the used one is refused after.
    assert_eq!(forgot(&d, "carol@example.com").await.status, 202);
    let one = token(&message(&d, 2).await, "tsr_pr_");
    assert_eq!(forgot(&d, "CAROL@example.com").await.status, 202);
    let two = token(&message(&d, 3).await, "tsr_pr_");
    assert_ne!(one, two);
    let done = reset(&d, &two, "a-brand-new-password").await;
    assert_eq!(
        (done.status, done.json()),
        (200, json!({"status": "ok"})),
        "{}",
        done.text
    );
    reset(&d, &two, "another-new-password")
        .await
        .expect_error(400, "INVALID_LINK");
    reset(&d, &one, "another-new-password")
        .await
        .expect_error(400, "INVALID_LINK");
    // A completed reset also verified the address.
    let login = d
        .post_json(
            "/api/auth/token",
            json!({"username": "carol", "password": "a-brand-new-password"}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json()["user"]["emailVerified"], json!(true));
}

#[tokio::test]
async fn forgot_says_the_same_for_unknown_addresses_and_sends_nothing() {
    let d = TestDaemon::start();
    d.register("dave").await;
    d.register(MARKER).await;
    let unknown = forgot(&d, "nobody@example.com").await;
    let known = forgot(&d, "dave@example.com").await;
    assert_eq!((unknown.status, &unknown.text), (known.status, &known.text));
    assert_eq!(known.status, 202);
    let mail = message(&d, 1).await;
    assert!(mail.contains("To: dave@example.com"), "{mail}");
    assert!(
        mail.contains(&format!("{ISSUER}/reset-password?token=tsr_pr_")),
        "{mail}"
    );
    no_more_than(&d, 1).await;
    forgot(&d, "not an address").await.expect_error(400, "INVALID_REQUEST");
    // A disabled account gets nothing either.
    assert_eq!(d.tessera(&["user", "disable", "dave"]).code, 0);
    assert_eq!(forgot(&d, "dave@example.com").await.text, known.text);
    no_more_than(&d, 1).await;
}

#[tokio::test]
async fn a_reset_ends_every_session_keeps_api_tokens_and_sends_a_notice() {
    let d = TestDaemon::start();
    let erin = d.register("erin").await;
    let other = d.login("erin").await;
    let access = s(&erin, "accessToken");
    let api = d.create_api_token(&access, json!({"name": "deploy"})).await.json();
    let introspector = client(&d, "rs", "read");
    assert_eq!(forgot(&d, "erin@example.com").await.status, 202);
    let link = token(&message(&d, 1).await, "tsr_pr_");
    // A password against the policy leaves the link usable.
    let weak = reset(&d, &link, "short").await;
    weak.expect_error(400, "INVALID_REQUEST");
    assert_eq!(weak.json()["field"], json!("newPassword"));
    assert_eq!(reset(&d, &link, "erins-new-password").await.status, 200);

    for token in [&access, &s(&other, "accessToken")] {
        assert_eq!(d.get("/api/auth/me", Some(token)).await.status, 401);
        assert_eq!(introspect(&d, &introspector, token).await["active"], json!(false));
    }
    for refresh in [s(&erin, "refreshToken"), s(&other, "refreshToken")] {
        assert_eq!(d.rotate(refresh).await.status, 401);
    }
    d.assert_live(&s(&api, "token")).await;
    let notice = message(&d, 2).await;
    assert!(notice.contains("password was changed"), "{notice}");
    assert!(!notice.contains("tsr_"), "the notice holds no link");
    d.post_json(
        "/api/auth/token",
        json!({"username": "erin", "password": password("erin")}),
    )
    .await
    .expect_error(401, "LOGIN_FAILED");
    // An operator's password change sends the notice too.
    assert_eq!(
        d.tessera_stdin(
            &["user", "set-password", "erin", "--password-stdin"],
            "set-by-operator\n"
        )
        .code,
        0
    );
    assert!(message(&d, 3).await.contains("password was changed"));
}

#[tokio::test]
async fn the_reset_form_works_without_script() {
    let d = TestDaemon::start();
    d.register("fay").await;
    forgot(&d, "fay@example.com").await;
    let link = token(&message(&d, 1).await, "tsr_pr_");
    let form = d.get(&format!("/reset-password?token={link}"), None).await;
    assert_eq!(form.status, 200);
    assert!(
        form.text.contains("<form method=\"post\" action=\"/reset-password\">"),
        "{}",
        form.text
    );
    assert!(form.text.contains(&format!("value=\"{link}\"")));
    assert!(!form.text.contains("<script"));
    let post_form =
        |fields: Vec<(&'static str, String)>| d.send(d.client().post(d.url("/reset-password")).form(&fields));
    let differ = post_form(vec![
        ("token", link.clone()),
        ("newPassword", "fays-new-password".into()),
        ("confirmPassword", "something-else".into()),
    ])
    .await;
    assert_eq!(differ.status, 400);
    assert!(differ.text.contains("differ"), "{}", differ.text);
    let done = post_form(vec![
        ("token", link.clone()),
        ("newPassword", "fays-new-password".into()),
        ("confirmPassword", "fays-new-password".into()),
    ])
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("Password changed"));
    let used = post_form(vec![("token", link), ("newPassword", "fays-newer-password".into())]).await;
    assert_eq!(used.status, 400);
    assert!(used.text.contains("Link not valid"), "{}", used.text);
}

#[tokio::test]
async fn verified_addresses_can_be_required_at_every_login() {
    let d = TestDaemon::with("[registration]\nrequire_verified_email = true\n[oauth]\npassword_grant = true\n");
    let registered = d
        .post_json(
            "/api/auth/register",
            json!({"username": "gus", "email": "gus@example.com", "password": password("gus")}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let body = registered.json();
    assert_eq!(body["verificationRequired"], json!(true));
    assert!(
        body.get("accessToken").is_none() && body.get("refreshToken").is_none(),
        "{body}"
    );
    let login = || {
        d.post_json(
            "/api/auth/token",
            json!({"username": "gus", "password": password("gus")}),
        )
    };
    login().await.expect_error(403, "EMAIL_NOT_VERIFIED");
    d.post_json(
        "/api/auth/token",
        json!({"username": "gus", "password": "wrong-password"}),
    )
    .await
    .expect_error(401, "LOGIN_FAILED");
    let grant = [
        ("grant_type", "password"),
        ("username", "gus"),
        ("password", &password("gus")),
    ];
    assert_eq!(post(&d, "/oauth/token", &grant, None).await.code(), "invalid_grant");
    let link = token(&message(&d, 1).await, "tsr_ve_");
    assert_eq!(verify(&d, &link).await.status, 200);
    assert_eq!(login().await.status, 200);
    assert_eq!(post(&d, "/oauth/token", &grant, None).await.status, 200);
}

#[tokio::test]
async fn messages_per_address_and_kind_are_capped_per_hour() {
    let d = TestDaemon::with("[mail]\nmax_per_hour = 2\n");
    d.register("hal").await;
    d.register(MARKER).await;
    for _ in 0..4 {
        assert_eq!(forgot(&d, "hal@example.com").await.status, 202);
    }
    no_more_than(&d, 2).await;
    // Verification messages are counted apart (the first three messages are hal's two
    // resets and the barrier's).
    let asked = d.post_json("/api/auth/verify-email/request", json!({"email": "hal@example.com"}));
    assert_eq!(asked.await.status, 202);
    let verification = message(&d, 4).await;
    assert!(
        verification.contains("To: hal@example.com") && verification.contains("tsr_ve_"),
        "a verification message went to hal past the reset cap: {verification}"
    );
    // The operator is told when nothing was sent.
    let refused = d.tessera(&["user", "send-reset", "hal"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("not sent: hal@example.com already got 2 password-reset messages in the last hour"),
        "{}",
        refused.stderr
    );
    assert_eq!(d.tessera(&["user", "send-verification", "hal"]).code, 0);
    assert!(message(&d, 5).await.contains("tsr_ve_"));
    let audit = d.tessera(&["audit", "--limit", "3"]).stdout;
    assert!(audit.contains("admin.user.send_verification"), "{audit}");
}

#[tokio::test]
async fn exists_is_off_by_default_and_throttled_when_on() {
    let off = TestDaemon::start();
    off.get("/api/auth/exists?email=a@example.com", None)
        .await
        .expect_error(404, "NOT_FOUND");
    let d = TestDaemon::with("[registration]\nexpose_exists = true\n");
    d.register("ivy").await;
    let ask = |query: &'static str| d.get(query, None);
    assert_eq!(
        ask("/api/auth/exists?email=IVY@example.com").await.json(),
        json!({"exists": true})
    );
    assert_eq!(
        ask("/api/auth/exists?username=ivy").await.json(),
        json!({"exists": true})
    );
    assert_eq!(
        ask("/api/auth/exists?username=nobody").await.json(),
        json!({"exists": false})
    );
    ask("/api/auth/exists?email=a@example.com&username=ivy")
        .await
        .expect_error(400, "INVALID_REQUEST");
    ask("/api/auth/exists").await.expect_error(400, "INVALID_REQUEST");
    let mut limited = None;
    for _ in 0..10 {
        let resp = ask("/api/auth/exists?username=ivy").await;
        if resp.status == 429 {
            limited = Some(resp);
            break;
        }
    }
    let limited = limited.expect("429 within ten more lookups");
    assert!(limited.header("retry-after").is_some());
}

#[test]
fn check_config_refuses_smtp_without_tls_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| {
        let config = write_config(dir.path(), extra);
        output_within(
            std::process::Command::new(TESSERAD)
                .arg("check-config")
                .arg("--config")
                .arg(&config),
            None,
            Duration::from_secs(30),
        )
    };
    let remote = check("[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"mail.example.com\"\ntls = \"none\"\n");
    assert_eq!(remote.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&remote.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("mail.smtp.tls:")), "{stderr}");
    for host in ["localhost", "127.0.0.2", "::1"] {
        let local = check(&format!(
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"{host}\"\ntls = \"none\"\nport = 2525\n"
        ));
        assert_eq!(
            local.status.code(),
            Some(0),
            "{host}: {}",
            String::from_utf8_lossy(&local.stderr)
        );
    }
    // [mail.smtp] is checked only when used.
    let unused = check("[mail]\ntransport = \"file\"\n[mail.smtp]\nhost = \"mail.example.com\"\ntls = \"none\"\n");
    assert_eq!(
        unused.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&unused.stderr)
    );
}

/// A private CA and a certificate for `localhost` it signed: (CA PEM, leaf PEM, leaf key PEM).
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

/// Waits up to `seconds` for the sink to hold `n` messages.
async fn delivered(sink: &Sink, n: usize, seconds: u64) -> Vec<Delivered> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let got = sink.delivered();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "the sink got {} of {n} messages", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivers_over_starttls_to_a_private_ca_with_auth_and_retries_a_refusal() {
    let (ca, chain, key) = private_ca();
    let sink = Sink::start(Behaviour::RefuseFirst, Some(SinkTls::StartTls(chain, key))).await;
    let files = tempfile::tempdir().unwrap();
    let (ca_file, password_file) = (files.path().join("ca.pem"), files.path().join("smtp-password"));
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&password_file, "sink-secret\n").unwrap();
    let d = TestDaemon::with(&format!(
        "[mail]\ntransport = \"smtp\"\nfrom = \"Acme <no-reply@acme.test>\"\n\
         [mail.smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nusername = \"tessera\"\n\
         password_file = {password_file:?}\nca_file = {ca_file:?}\n",
        sink.addr.port()
    ));
    d.register("joan").await;
    assert_eq!(forgot(&d, "joan@example.com").await.status, 202);
    let got = delivered(&sink, 1, 15).await;
    let message = &got[0];
    assert!(message.tls, "sent after STARTTLS");
    assert_eq!(message.auth, Some(("tessera".to_owned(), "sink-secret".to_owned())));
    assert!(
        message.envelope.iter().any(|e| e.contains("<joan@example.com>")),
        "{:?}",
        message.envelope
    );
    assert!(
        message.data.contains("Subject: Reset your Acme password"),
        "{}",
        message.data
    );
    assert_eq!(
        *sink.connections.lock().unwrap(),
        2,
        "the refused first attempt was retried"
    );
    // The link that came through SMTP works.
    let link = token(&message.data, "tsr_pr_");
    assert_eq!(reset(&d, &link, "joans-new-password").await.status, 200);
}

#[tokio::test]
async fn a_message_refused_for_good_is_audited_and_counted() {
    let sink = Sink::start(Behaviour::RejectRecipients, None).await;
    let d = TestDaemon::with(&format!(
        "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
        sink.addr.port()
    ));
    d.register("kim").await;
    assert_eq!(forgot(&d, "kim@example.com").await.status, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = d.tessera(&["audit", "--limit", "5"]).stdout;
        if audit.contains("mail.failed") {
            assert!(audit.contains("reset message"), "{audit}");
            break;
        }
        assert!(Instant::now() < deadline, "no mail.failed in {audit}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        *sink.connections.lock().unwrap(),
        1,
        "a permanent refusal is not retried"
    );
    // Mail counters are the operator's: on the metrics listener of their own.
    let own = crate::metrics::own_listener(&d);
    let metrics = d.send(d.client().get(own)).await.text;
    assert!(
        metrics.contains("tessera_mail_messages_total{kind=\"reset\",outcome=\"failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn forgot_takes_as_long_for_an_unknown_address_as_for_a_known_one() {
    let d = TestDaemon::with("[mail]\nmax_per_hour = 1000\n");
    d.register("lee").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..200 {
        // Alternated, so background work after a known address weighs on both.
        for (times, email) in [
            (&mut known, "lee@example.com".to_owned()),
            (&mut unknown, format!("n{i}@example.com")),
        ] {
            let started = Instant::now();
            let resp = forgot(&d, &email).await;
            times.push(started.elapsed());
            assert_eq!(resp.status, 202);
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    eprintln!("forgot-password medians over 200 tries: known {known:?}, unknown {unknown:?}");
    // Only a generous bound: the work that differs happens after the answer.
    let (slower, faster) = (known.max(unknown), known.min(unknown));
    assert!(
        slower <= faster * 3 + Duration::from_millis(2),
        "known {known:?}, unknown {unknown:?}"
    );
    message(&d, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_with_implicit_tls_delivers_and_an_untrusted_relay_gets_nothing() {
    let (ca, chain, key) = private_ca();
    let sink = Sink::start(Behaviour::RefuseFirst, Some(SinkTls::Implicit(chain, key))).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let smtp = |ca: &str| {
        format!(
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"localhost\"\nport = {}\ntls = \"tls\"\n{ca}",
            sink.addr.port()
        )
    };
    // Without the private CA the relay's certificate is not trusted: nothing is sent.
    let untrusting = TestDaemon::with(&smtp(""));
    untrusting.register("moe").await;
    assert_eq!(forgot(&untrusting, "moe@example.com").await.status, 202);
    let d = TestDaemon::with(&smtp(&format!("ca_file = {ca_file:?}\n")));
    d.register("nia").await;
    assert_eq!(forgot(&d, "nia@example.com").await.status, 202);
    let got = delivered(&sink, 1, 15).await;
    assert!(got[0].tls && got[0].auth.is_none(), "{:?}", got[0]);
    assert!(
        got[0].envelope.iter().any(|e| e.contains("<nia@example.com>")),
        "{:?}",
        got[0].envelope
    );
    // The untrusting daemon has had its chance only once it gives up: a TLS failure is
    // transient, so that is after its fifth attempt (waits of 1 + 2 + 4 + 8 s), when it
    // audits mail.failed. Wait for that, or for moe's message at the relay.
    let to_moe = || {
        sink.delivered()
            .iter()
            .any(|m| m.envelope.iter().any(|e| e.contains("moe@")))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let audit = loop {
        let audit = untrusting.tessera(&["audit", "--limit", "5"]).stdout;
        if audit.contains("mail.failed") || to_moe() {
            break audit;
        }
        assert!(
            Instant::now() < deadline,
            "the untrusting daemon neither delivered nor gave up on moe's message: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        !to_moe(),
        "a relay whose certificate is not trusted got moe's message: {:?}",
        sink.delivered()
    );
    assert!(
        audit.contains("reset message") && audit.contains("certificate"),
        "the untrusting daemon gave up on moe's reset message over the relay's certificate: {audit}"
    );
}
