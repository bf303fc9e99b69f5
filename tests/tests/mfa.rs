//! Second factors (see README, "Two-step sign-in"): TOTP enrolment, the login's
//! second step at the API and at the login page, recovery codes, the waiting login's
//! limits, and what the audit trail keeps. Codes are computed here from the secret
//! the daemon hands out, as an authenticator app would (RFC 6238 over `ring`'s HMAC).

use crate::authorize::{Browser, authorize_url, client_with, location_params, pkce};
use crate::harness::{Resp, TestDaemon, password, s};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// The 6-digit code of `secret` (base32) at `step`.
pub(crate) fn code(secret: &str, step: i64) -> String {
    use ring::hmac;
    let key = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key),
        &step.to_be_bytes(),
    );
    let mac = mac.as_ref();
    let at = usize::from(mac[19] & 0x0f);
    let word = u32::from_be_bytes([mac[at] & 0x7f, mac[at + 1], mac[at + 2], mac[at + 3]]);
    format!("{:06}", word % 1_000_000)
}

/// The current step, after waiting out the end of one that has under five seconds
/// left: the test's steps then stay put while it runs.
pub(crate) async fn fresh_step() -> i64 {
    let left = 30 - now().rem_euclid(30);
    if left < 5 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(left).unwrap() + 1)).await;
    }
    now().div_euclid(30)
}

async fn with_bearer(d: &TestDaemon, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Resp {
    let mut request = d.client().request(method, d.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    d.send(request).await
}

/// Registers `name`, enrols TOTP confirmed with the code of `step` and returns the
/// secret, the recovery codes and the session's access token.
pub(crate) async fn enrolled(d: &TestDaemon, name: &str, step: i64) -> (String, Vec<String>, String) {
    let access = s(&d.register(name).await, "accessToken");
    let setup = with_bearer(d, reqwest::Method::POST, "/api/auth/mfa/totp", &access, None).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    let secret = s(&setup.json(), "secret");
    let confirmed = with_bearer(
        d,
        reqwest::Method::POST,
        "/api/auth/mfa/totp/confirm",
        &access,
        Some(json!({"code": code(&secret, step)})),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let codes = confirmed.json()["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes, access)
}

async fn login(d: &TestDaemon, name: &str) -> Resp {
    d.post_json("/api/auth/token", json!({"username": name, "password": password(name)}))
        .await
}

/// A login that must wait for its second factor: its `mfaToken`.
pub(crate) async fn waiting(d: &TestDaemon, name: &str) -> String {
    let resp = login(d, name).await;
    assert_eq!(resp.status, 401, "{}", resp.text);
    let body = resp.json();
    assert_eq!(body["error"], "MFA_REQUIRED");
    assert_eq!(body["methods"], json!(["totp", "recovery"]));
    let token = s(&body, "mfaToken");
    assert!(token.starts_with("tsr_mf_") && token.len() >= 7 + 43, "{token}");
    token
}

pub(crate) async fn verify(d: &TestDaemon, token: &str, code: &str) -> Resp {
    d.post_json("/api/auth/mfa/verify", json!({"mfaToken": token, "code": code}))
        .await
}

#[tokio::test]
async fn totp_enrolment_then_login_asks_for_a_code_and_each_step_works_once() {
    let d = TestDaemon::start();
    let access = s(&d.register("alice").await, "accessToken");
    let status = with_bearer(&d, reqwest::Method::GET, "/api/auth/mfa", &access, None).await;
    assert_eq!(
        status.json(),
        json!({"totp": false, "passkeys": [], "recoveryCodesLeft": 0})
    );
    let setup = with_bearer(&d, reqwest::Method::POST, "/api/auth/mfa/totp", &access, None).await;
    assert_eq!(setup.status, 200, "{}", setup.text);
    assert_eq!(setup.header("cache-control"), Some("no-store"));
    let secret = s(&setup.json(), "secret");
    assert_eq!(data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap().len(), 20);
    assert_eq!(
        s(&setup.json(), "otpauthUri"),
        format!("otpauth://totp/Tessera:alice?secret={secret}&issuer=Tessera&algorithm=SHA1&digits=6&period=30")
    );
    // Pending: a login needs no code yet.
    assert_eq!(login(&d, "alice").await.status, 200);
    let step = fresh_step().await;
    let confirm = |c: String| {
        with_bearer(
            &d,
            reqwest::Method::POST,
            "/api/auth/mfa/totp/confirm",
            &access,
            Some(json!({"code": c})),
        )
    };
    let wrong = confirm(code(&secret, step + 5)).await;
    assert_eq!((wrong.status, wrong.code()), (400, "INVALID_CODE".into()));
    let confirmed = confirm(code(&secret, step - 1)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let codes = confirmed.json()["recoveryCodes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    let again = with_bearer(&d, reqwest::Method::POST, "/api/auth/mfa/totp", &access, None).await;
    assert_eq!((again.status, again.code()), (409, "CONFLICT".into()));
    let status = with_bearer(&d, reqwest::Method::GET, "/api/auth/mfa", &access, None).await;
    assert_eq!(status.json()["totp"], json!(true));
    assert_eq!(status.json()["recoveryCodesLeft"], json!(10));

    // A wrong password says nothing about the second factor.
    let bad = d
        .post_json(
            "/api/auth/token",
            json!({"username": "alice", "password": "not-her-password"}),
        )
        .await;
    bad.expect_error(401, "LOGIN_FAILED");
    assert!(bad.json().get("mfaToken").is_none());

    // The code that confirmed (step - 1) is used; the current and next steps work once each.
    let token = waiting(&d, "alice").await;
    verify(&d, &token, &code(&secret, step - 1))
        .await
        .expect_error(401, "INVALID_CODE");
    let ok = verify(&d, &token, &code(&secret, step)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let tokens = ok.json();
    assert_eq!(tokens["user"]["username"], "alice");
    d.assert_live(&s(&tokens, "accessToken")).await;
    verify(&d, &token, &code(&secret, step + 1))
        .await
        .expect_error(401, "INVALID_MFA_TOKEN");
    let token = waiting(&d, "alice").await;
    verify(&d, &token, &code(&secret, step))
        .await
        .expect_error(401, "INVALID_CODE");
    assert_eq!(verify(&d, &token, &code(&secret, step + 1)).await.status, 200);

    let audit = d.tessera(&["audit", "--limit", "50"]).stdout;
    for event in [
        "mfa.totp.added",
        "login.mfa.required",
        "login.mfa.success",
        "login.mfa.failure",
    ] {
        assert!(audit.contains(event), "{event} in {audit}");
    }
    assert!(!audit.contains(&secret) && !audit.contains(&code(&secret, step)));
    assert!(!d.logs().contains(&secret));
}

#[tokio::test]
async fn recovery_codes_work_once_in_any_case_and_a_new_set_voids_the_old() {
    let d = TestDaemon::start();
    let step = fresh_step().await;
    let (_, codes, access) = enrolled(&d, "bob", step).await;
    let first = codes[0].clone();
    let sloppy = first.replace('-', "").to_uppercase();
    let token = waiting(&d, "bob").await;
    assert_eq!(verify(&d, &token, &sloppy).await.status, 200);
    let token = waiting(&d, "bob").await;
    verify(&d, &token, &first).await.expect_error(401, "INVALID_CODE");
    let status = with_bearer(&d, reqwest::Method::GET, "/api/auth/mfa", &access, None).await;
    assert_eq!(status.json()["recoveryCodesLeft"], json!(9));

    let regenerate = |pw: &str| {
        with_bearer(
            &d,
            reqwest::Method::POST,
            "/api/auth/mfa/recovery-codes",
            &access,
            Some(json!({"password": pw})),
        )
    };
    regenerate("wrong-password-here")
        .await
        .expect_error(401, "LOGIN_FAILED");
    let fresh = regenerate(&password("bob")).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    let fresh = fresh.json()["recoveryCodes"].as_array().unwrap().clone();
    assert_eq!(fresh.len(), 10);
    let token = waiting(&d, "bob").await;
    verify(&d, &token, &codes[1]).await.expect_error(401, "INVALID_CODE");
    assert_eq!(verify(&d, &token, fresh[0].as_str().unwrap()).await.status, 200);
    let audit = d.tessera(&["audit", "--limit", "50"]).stdout;
    assert!(audit.contains("mfa.recovery.used") && audit.contains("mfa.recovery.regenerated"));
    let fresh: Vec<String> = fresh.iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    for c in codes.iter().chain(&fresh) {
        assert!(!audit.contains(c.as_str()), "no recovery code in the audit trail");
    }

    // Removing TOTP takes the password, and the recovery codes go with it.
    let remove = |pw: &str| {
        with_bearer(
            &d,
            reqwest::Method::DELETE,
            "/api/auth/mfa/totp",
            &access,
            Some(json!({"password": pw})),
        )
    };
    remove("wrong-password-here").await.expect_error(401, "LOGIN_FAILED");
    assert_eq!(remove(&password("bob")).await.status, 204);
    assert_eq!(login(&d, "bob").await.status, 200, "no second step any more");
    regenerate(&password("bob")).await.expect_error(409, "CONFLICT");
}

#[tokio::test]
async fn a_waiting_login_dies_with_its_fifth_wrong_code_and_the_password_grant_is_refused() {
    let d = TestDaemon::with("[oauth]\npassword_grant = true\n");
    let step = fresh_step().await;
    let (secret, _, _) = enrolled(&d, "carol", step).await;
    let token = waiting(&d, "carol").await;
    for _ in 0..5 {
        verify(&d, &token, "000000").await.expect_error(401, "INVALID_CODE");
    }
    // The wrong codes counted for the login throttle, as wrong passwords do...
    login(&d, "carol").await.expect_error(429, "TOO_MANY_ATTEMPTS");
    verify(&d, &token, &code(&secret, step + 1))
        .await
        .expect_error(429, "TOO_MANY_ATTEMPTS");
    // ...whose first delay is a second; then the waiting login is dead anyway.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    verify(&d, &token, &code(&secret, step + 1))
        .await
        .expect_error(401, "INVALID_MFA_TOKEN");
    verify(&d, "tsr_mf_unknown", "123456")
        .await
        .expect_error(401, "INVALID_MFA_TOKEN");

    enrolled(&d, "erin", step).await;
    let client = client_with(&d, &["app", "--scopes", "read"]).unwrap();
    let grant = crate::oauth::post(
        &d,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "erin"),
            ("password", &password("erin")),
        ],
        Some(&("app".to_owned(), client)),
    )
    .await;
    assert_eq!(grant.status, 400, "{}", grant.text);
    assert_eq!(grant.json()["error"], "invalid_grant");
    assert!(s(&grant.json(), "error_description").contains("second factor"));
}

#[tokio::test]
async fn the_login_page_asks_for_the_code_as_a_second_step() {
    let d = TestDaemon::start();
    let step = fresh_step().await;
    let (secret, _, _) = enrolled(&d, "dave", step).await;
    client_with(
        &d,
        &[
            "web",
            "--scopes",
            "read",
            "--first-party",
            "--redirect-uri",
            "https://web.example.com/cb",
        ],
    );
    let browser = Browser::new(&d);
    let (_, challenge) = pkce();
    let page = browser
        .sign_in(
            &authorize_url("web", "https://web.example.com/cb", &challenge, ""),
            "dave",
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("name=\"code\""), "{}", page.text);
    assert!(page.text.contains("autocomplete=\"one-time-code\"") && page.text.contains("inputmode=\"numeric\""));
    assert!(page.text.contains("name=\"mfa_token\""));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("form-action 'self' https://web.example.com")
    );
    assert!(
        page.set_cookies().iter().all(|c| !c.starts_with("tessera_browser=")),
        "no browser session before the code"
    );
    let wrong = browser.submit(&page, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.text.contains("That code is not right"), "{}", wrong.text);
    let back = browser.submit(&wrong, &[("code", &code(&secret, step + 1))]).await;
    let (base, params) = location_params(&back);
    assert_eq!(base, "https://web.example.com/cb");
    assert!(params.contains_key("code"), "{params:?}");
    let audit = d.tessera(&["audit", "--limit", "50"]).stdout;
    assert!(audit.contains("login.page.mfa.required") && audit.contains("login.page.mfa.success"));
}

#[tokio::test]
async fn an_apps_token_cannot_touch_factors_and_a_new_password_ends_a_waiting_login() {
    let d = TestDaemon::start();
    d.register("frank").await;
    let app = crate::oidc::oidc_client(&d, "app", "openid read", &["--first-party"]);
    let browser = Browser::new(&d);
    let tokens = crate::oidc::code_flow(&d, &browser, &app, "&scope=openid%20read", "frank").await;
    let app_token = s(&tokens, "access_token");
    for (method, path) in [
        (reqwest::Method::GET, "/api/auth/mfa"),
        (reqwest::Method::POST, "/api/auth/mfa/totp"),
    ] {
        let refused = with_bearer(&d, method, path, &app_token, None).await;
        refused.expect_error(403, "INSUFFICIENT_SCOPE");
    }

    let step = fresh_step().await;
    let (secret, _, _) = enrolled(&d, "gina", step).await;
    let token = waiting(&d, "gina").await;
    let out = d.tessera_stdin(
        &["user", "set-password", "gina", "--password-stdin"],
        "a-brand-new-password\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    verify(&d, &token, &code(&secret, step + 1))
        .await
        .expect_error(401, "INVALID_MFA_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_five_tries_per_waiting_login_at_most() {
    let d = TestDaemon::with("[throttle]\nmax_failures = 1000\n");
    let step = fresh_step().await;
    let (secret, _, _) = enrolled(&d, "hal", step).await;
    let token = waiting(&d, "hal").await;
    let codes: Vec<String> = (0..12).map(|i| format!("{:06}", 100_000 + i)).collect();
    let guesses: Vec<_> = codes.iter().map(|c| verify(&d, &token, c)).collect();
    let answers = futures_util::future::join_all(guesses).await;
    let wrong = answers
        .iter()
        .filter(|a| a.status == 401 && a.code() == "INVALID_CODE")
        .count();
    let dead = answers
        .iter()
        .filter(|a| a.status == 401 && a.code() == "INVALID_MFA_TOKEN")
        .count();
    assert_eq!(
        (wrong, dead),
        (5, 7),
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    verify(&d, &token, &code(&secret, step + 1))
        .await
        .expect_error(401, "INVALID_MFA_TOKEN");
}

#[tokio::test]
async fn the_operator_resets_a_lost_second_factor_and_the_sessions_end() {
    let d = TestDaemon::start();
    let step = fresh_step().await;
    let (_, _, access) = enrolled(&d, "ivy", step).await;
    waiting(&d, "ivy").await;
    let reset = d.tessera(&["user", "reset-mfa", "ivy"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(reset.stdout.contains("1 session(s) revoked"), "{}", reset.stdout);
    d.assert_dead(&access).await;
    assert_eq!(login(&d, "ivy").await.status, 200, "a password alone again");
    let audit = d.tessera(&["audit", "--limit", "5"]).stdout;
    assert!(audit.contains("admin.user.reset_mfa"), "{audit}");
    let unknown = d.tessera(&["user", "reset-mfa", "nobody"]);
    assert_ne!(unknown.code, 0);
}
