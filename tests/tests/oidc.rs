//! OpenID Connect (see README, "Sign in with Tessera (OpenID Connect)"): discovery,
//! the JWK Set, ID tokens verified against it, `prompt`, `max_age`, hints, UserInfo,
//! refresh, logout and key rotation, driven as a browser and an app would.

use crate::authorize::{Browser, authorize_url, client_with, exchange, location_params, pkce};
use crate::harness::{ISSUER, Resp, TestDaemon, claims, s};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const CALLBACK: &str = "https://app.example.com/cb";

/// Registers a confidential client `id` for `scopes`, with `extra` flags; returns its
/// credentials.
pub(crate) fn oidc_client(d: &TestDaemon, id: &str, scopes: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![id, "--scopes", scopes, "--redirect-uri", CALLBACK];
    args.extend_from_slice(extra);
    (id.to_owned(), client_with(d, &args).unwrap())
}

/// The decoded parts of a JWS compact token: header, claims, signing input, signature.
fn parts(token: &str) -> (Value, Value, String, Vec<u8>) {
    let mut it = token.split('.');
    let (h, c, sig) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none(), "three parts: {token}");
    let decode = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (
        decode(h),
        decode(c),
        format!("{h}.{c}"),
        URL_SAFE_NO_PAD.decode(sig).unwrap(),
    )
}

/// Verifies `token` with the key its header names in the published JWK Set, as a
/// relying party would; returns its header and claims.
async fn verified(d: &TestDaemon, token: &str) -> (Value, Value) {
    use ring::signature::{ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};
    let (header, claims, signed, signature) = parts(token);
    let jwks = d.get("/oauth/jwks", None).await.json();
    let kid = header["kid"].as_str().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} is published: {jwks}"));
    let b64 = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    assert_eq!(jwk["alg"], header["alg"]);
    let ok = match header["alg"].as_str().unwrap() {
        "RS256" => RsaPublicKeyComponents {
            n: b64("n"),
            e: b64("e"),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature),
        "EdDSA" => UnparsedPublicKey::new(&ED25519, b64("x")).verify(signed.as_bytes(), &signature),
        other => panic!("unexpected alg {other}"),
    };
    assert!(ok.is_ok(), "the signature verifies with the JWKS");
    (header, claims)
}

/// Runs the code flow in `browser` for `client` with `extra` query parameters (the
/// browser already signed in, or signing `user` in; consent allowed if asked) and
/// exchanges the code; returns the token response.
pub(crate) async fn code_flow(
    d: &TestDaemon,
    browser: &Browser,
    client: &(String, String),
    extra: &str,
    user: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_url(&client.0, CALLBACK, &challenge, extra);
    let mut page = browser.get(&url).await;
    if page.status == 200 && page.text.contains("name=\"password\"") {
        page = browser
            .submit(
                &page,
                &[("username", user), ("password", &crate::harness::password(user))],
            )
            .await;
    }
    if page.status == 200 && page.text.contains("Allow") {
        page = browser.submit(&page, &[("decision", "allow")]).await;
    }
    let (_, params) = location_params(&page);
    let code = params.get("code").unwrap_or_else(|| panic!("a code: {params:?}"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens = exchange(d, &form, Some(client)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    tokens.json()
}

/// The `error` a `prompt=none`-style request was sent back with, or the page.
async fn outcome(browser: &Browser, client: &str, extra: &str) -> Resp {
    let (_, challenge) = pkce();
    browser.get(&authorize_url(client, CALLBACK, &challenge, extra)).await
}

fn error_of(resp: &Resp) -> String {
    let (_, params) = location_params(resp);
    assert_eq!(params.get("state").map(String::as_str), Some("st-42"), "{params:?}");
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
    params.get("error").cloned().unwrap_or_default()
}

#[tokio::test]
async fn discovery_agrees_with_rfc_8414_and_the_jwks_publishes_public_keys_apart_from_paseto() {
    let d = TestDaemon::start();
    let oidc = d.get("/.well-known/openid-configuration", None).await;
    assert_eq!(oidc.status, 200);
    let oauth = d.get("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(oidc.json(), oauth.json(), "one document");
    let m = oidc.json();
    assert_eq!(m["issuer"], ISSUER);
    for (field, path) in [
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/oauth/jwks"),
        ("end_session_endpoint", "/oauth/logout"),
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
    ] {
        assert_eq!(m[field], format!("{ISSUER}{path}"), "{field}");
    }
    assert_eq!(m["subject_types_supported"], json!(["public"]));
    assert_eq!(m["id_token_signing_alg_values_supported"], json!(["RS256", "EdDSA"]));
    assert_eq!(m["response_modes_supported"], json!(["query"]));
    assert_eq!(m["prompt_values_supported"], json!(["none", "login", "consent"]));
    for flag in [
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert_eq!(m[flag], json!(false), "{flag}");
    }
    let scopes = m["scopes_supported"].as_array().unwrap();
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(scopes.contains(&json!(scope)), "{scope}");
    }
    let claims = m["claims_supported"].as_array().unwrap();
    for claim in "sub iss aud exp iat auth_time nonce amr sid preferred_username name email email_verified".split(' ') {
        assert!(claims.contains(&json!(claim)), "{claim}");
    }

    let jwks = d.get("/oauth/jwks", None).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let paseto: Vec<String> = d.get("/api/auth/keys", None).await.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(k, "kid"))
        .collect();
    for key in &keys {
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "{private} in {key}");
        }
        assert!(!paseto.contains(&s(key, "kid")), "a key serves one protocol");
    }
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(rsa["kty"], "RSA");
    assert!(
        URL_SAFE_NO_PAD.decode(s(rsa, "n")).unwrap().len() >= 256,
        "2048 bits at least"
    );
    let ed = keys.iter().find(|k| k["alg"] == "EdDSA").unwrap();
    assert_eq!((ed["kty"].as_str(), ed["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
}

#[tokio::test]
async fn id_tokens_verify_with_the_jwks_and_carry_the_claims_the_scopes_release() {
    let d = TestDaemon::with("[tokens]\naccess_ttl = \"10m\"\n");
    let alice = d.register("alice").await;
    let sub = s(&alice["user"], "id");
    let rs = oidc_client(&d, "rs-app", "openid profile email read", &["--first-party"]);
    let ed = oidc_client(
        &d,
        "ed-app",
        "openid profile email read",
        &["--first-party", "--id-token-alg", "EdDSA"],
    );
    let list = d.tessera(&["client", "list", "--json"]).json();
    let algs: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(c, "clientId"), s(c, "idTokenSignedResponseAlg")))
        .collect();
    assert!(algs.contains(&("rs-app".into(), "RS256".into())) && algs.contains(&("ed-app".into(), "EdDSA".into())));
    let human = d.tessera(&["client", "list"]).stdout;
    assert!(human.contains("ID TOKEN") && human.contains("EdDSA"), "{human}");

    let browser = Browser::new(&d);
    let nonce = "n-0S6_WzA2Mj";
    for (client, alg) in [(&rs, "RS256"), (&ed, "EdDSA")] {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let tokens = code_flow(
            &d,
            &browser,
            client,
            &format!("&scope=openid%20profile%20email%20read&nonce={nonce}"),
            "alice",
        )
        .await;
        assert_eq!(tokens["scope"], "openid profile email read");
        let (header, c) = verified(&d, &s(&tokens, "id_token")).await;
        assert_eq!(header["alg"], alg);
        assert_eq!(header["typ"], "JWT");
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["sub"], sub.as_str());
        assert_eq!(c["sub"], claims(&s(&tokens, "access_token"))["sub"], "the same sub");
        assert_eq!(c["aud"], client.0.as_str());
        assert_eq!(c["nonce"], nonce);
        assert_eq!(c["amr"], json!(["pwd"]));
        assert_eq!(c["preferred_username"], "alice");
        assert!(c["name"].is_string());
        assert_eq!(c["email"], "alice@example.com");
        assert_eq!(c["email_verified"], json!(false));
        let (iat, exp, auth_time) = (
            c["iat"].as_i64().unwrap(),
            c["exp"].as_i64().unwrap(),
            c["auth_time"].as_i64().unwrap(),
        );
        assert!((before - 5..=before + 60).contains(&iat), "{c}");
        assert_eq!(exp - iat, 600, "as long as an access token: {c}");
        assert_eq!(tokens["expires_in"], json!(600));
        assert!(auth_time <= iat && auth_time >= before - 60, "{c}");
        assert!(c["sid"].is_string());
    }

    // Only what was granted: openid alone releases no profile or email claims.
    let tokens = code_flow(&d, &browser, &rs, "&scope=openid%20read", "alice").await;
    let (_, c) = verified(&d, &s(&tokens, "id_token")).await;
    for absent in ["preferred_username", "name", "email", "email_verified", "nonce"] {
        assert!(c.get(absent).is_none(), "{absent} in {c}");
    }
    let tokens = code_flow(&d, &browser, &rs, "&scope=openid%20email", "alice").await;
    let (_, c) = verified(&d, &s(&tokens, "id_token")).await;
    assert!(c.get("email").is_some() && c.get("preferred_username").is_none(), "{c}");

    // Without openid, the flow is plain OAuth: no ID token.
    let tokens = code_flow(&d, &browser, &rs, "&scope=read", "alice").await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "read");
}

#[tokio::test]
async fn a_refresh_returns_a_fresh_id_token_for_the_same_sign_in_and_userinfo_follows_revocation() {
    let d = TestDaemon::start();
    d.register("alice").await;
    let app = oidc_client(&d, "app", "openid profile email read", &["--first-party"]);
    let browser = Browser::new(&d);
    let tokens = code_flow(&d, &browser, &app, "&scope=openid%20profile%20read&nonce=abc", "alice").await;
    let (_, first) = verified(&d, &s(&tokens, "id_token")).await;

    let refreshed = exchange(
        &d,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", s(&tokens, "refresh_token").as_str()),
        ],
        Some(&app),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let refreshed = refreshed.json();
    let (_, again) = verified(&d, &s(&refreshed, "id_token")).await;
    for same in ["sub", "aud", "auth_time", "sid", "iss", "preferred_username"] {
        assert_eq!(again[same], first[same], "{same}");
    }
    assert!(again.get("nonce").is_none(), "{again}");

    // UserInfo, GET and POST, with the profile claims and not the email ones.
    let access = s(&refreshed, "access_token");
    for post in [false, true] {
        let request = if post {
            d.client().post(d.url("/oauth/userinfo"))
        } else {
            d.client().get(d.url("/oauth/userinfo"))
        };
        let info = d.send(request.bearer_auth(&access)).await;
        assert_eq!(info.status, 200, "{}", info.text);
        assert_eq!(info.header("cache-control"), Some("no-store"));
        let info = info.json();
        assert_eq!(info["sub"], first["sub"]);
        assert_eq!(info["preferred_username"], "alice");
        assert!(info.get("email").is_none() && info.get("iss").is_none(), "{info}");
    }

    // No token, a bad one, and a token without openid.
    let bare = d.get("/oauth/userinfo", None).await;
    assert_eq!((bare.status, bare.header("www-authenticate")), (401, Some("Bearer")));
    let bad = d.get("/oauth/userinfo", Some("v4.public.nope")).await;
    assert_eq!(bad.status, 401);
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let plain = code_flow(&d, &browser, &app, "&scope=read", "alice").await;
    let refused = d.get("/oauth/userinfo", Some(&s(&plain, "access_token"))).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    assert_eq!(refused.json()["error"], "insufficient_scope");

    // Revocation takes effect at once.
    let out = crate::oauth::post(&d, "/oauth/revoke", &[("token", access.as_str())], Some(&app)).await;
    assert_eq!(out.status, 200, "{}", out.text);
    let after = d.get("/oauth/userinfo", Some(&access)).await;
    assert_eq!(after.status, 401);
    assert!(after.header("www-authenticate").unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn prompt_none_answers_without_pages_and_prompt_login_and_consent_show_them_again() {
    let d = TestDaemon::start();
    d.register("alice").await;
    d.register("bob").await;
    let third = oidc_client(&d, "third", "openid profile read", &[]);
    let first_party = oidc_client(&d, "mine", "openid profile read", &["--first-party"]);
    let browser = Browser::new(&d);
    let scope = "&scope=openid%20profile";

    // Nobody signed in.
    let none = outcome(&browser, "third", &format!("{scope}&prompt=none")).await;
    assert_eq!(error_of(&none), "login_required");
    // Signed in (at the first-party app), but the third-party app lacks consent.
    let tokens = code_flow(&d, &browser, &first_party, scope, "alice").await;
    let (_, first) = verified(&d, &s(&tokens, "id_token")).await;
    let none = outcome(&browser, "third", &format!("{scope}&prompt=none")).await;
    assert_eq!(error_of(&none), "consent_required");
    // Consent given once: then silent.
    let consented = code_flow(&d, &browser, &third, scope, "alice").await;
    let none = outcome(&browser, "third", &format!("{scope}&prompt=none")).await;
    assert!(location_params(&none).1.contains_key("code"), "silent success");
    // A hint naming someone else: login_required; naming alice: silent.
    let hint = s(&consented, "id_token");
    let ok = outcome(&browser, "third", &format!("{scope}&prompt=none&id_token_hint={hint}")).await;
    assert!(location_params(&ok).1.contains_key("code"));
    let other = Browser::new(&d);
    let bobs = code_flow(&d, &other, &first_party, scope, "bob").await;
    let bob_hint = s(&bobs, "id_token");
    let wrong = outcome(
        &browser,
        "third",
        &format!("{scope}&prompt=none&id_token_hint={bob_hint}"),
    )
    .await;
    assert_eq!(error_of(&wrong), "login_required");

    // prompt=consent: the consent page even though consent was given...
    let page = outcome(&browser, "third", &format!("{scope}&prompt=consent")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Allow"), "{}", page.text);
    // ... except for a first-party app.
    let mine = outcome(&browser, "mine", &format!("{scope}&prompt=consent")).await;
    assert!(location_params(&mine).1.contains_key("code"));

    // prompt=login: the login page despite the session; a new sign-in, a new sid and auth_time.
    let login = outcome(&browser, "mine", &format!("{scope}&prompt=login&login_hint=alice")).await;
    assert_eq!(login.status, 200);
    assert!(login.text.contains("value=\"alice\""), "login_hint pre-fills the name");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let relogged = code_flow(&d, &browser, &first_party, &format!("{scope}&prompt=login"), "alice").await;
    let (_, fresh) = verified(&d, &s(&relogged, "id_token")).await;
    assert!(
        fresh["auth_time"].as_i64() > first["auth_time"].as_i64(),
        "{fresh} after {first}"
    );
    assert_ne!(fresh["sid"], first["sid"], "the old browser session ended");

    // max_age: 0 asks for the password again, an hour does not.
    let again = outcome(&browser, "mine", &format!("{scope}&max_age=0")).await;
    assert_eq!(again.status, 200);
    assert!(again.text.contains("name=\"password\""));
    let within = outcome(&browser, "mine", &format!("{scope}&max_age=3600")).await;
    assert!(location_params(&within).1.contains_key("code"));
    let none_old = outcome(&browser, "mine", &format!("{scope}&max_age=0&prompt=none")).await;
    assert_eq!(error_of(&none_old), "login_required");
}

#[tokio::test]
async fn malformed_openid_requests_go_back_to_the_client_as_errors() {
    let d = TestDaemon::start();
    oidc_client(&d, "app", "openid read", &[]);
    let browser = Browser::new(&d);
    let long_nonce = "n".repeat(513);
    for (extra, error) in [
        ("&prompt=sometimes", "invalid_request"),
        ("&prompt=none%20login", "invalid_request"),
        ("&prompt=login%20none", "invalid_request"),
        (&format!("&nonce={long_nonce}") as &str, "invalid_request"),
        ("&max_age=soon", "invalid_request"),
        ("&id_token_hint=not.a.token", "invalid_request"),
        ("&request=eyJhbGciOiJub25lIn0.e30.", "request_not_supported"),
        (
            "&request_uri=https%3A%2F%2Fapp.example.com%2Fr",
            "request_uri_not_supported",
        ),
    ] {
        let resp = outcome(&browser, "app", &format!("&scope=openid{extra}")).await;
        assert_eq!(error_of(&resp), error, "{extra}: {}", refusal_text(&resp));
    }
    // login consent together is allowed, and select_account is login.
    for extra in ["&prompt=login%20consent", "&prompt=select_account"] {
        let resp = outcome(&browser, "app", &format!("&scope=openid{extra}")).await;
        assert_eq!(resp.status, 200, "{extra}: the login page");
    }
    let ok = outcome(&browser, "app", &format!("&scope=openid&nonce={}", "n".repeat(512))).await;
    assert_eq!(ok.status, 200);
}

fn refusal_text(resp: &Resp) -> String {
    resp.header("location").unwrap_or_default().to_owned()
}

#[tokio::test]
async fn logout_takes_an_id_token_hint_and_refuses_one_for_another_client() {
    let d = TestDaemon::start();
    d.register("alice").await;
    let app = oidc_client(
        &d,
        "app",
        "openid",
        &[
            "--first-party",
            "--post-logout-redirect-uri",
            "https://app.example.com/bye",
        ],
    );
    oidc_client(&d, "other", "openid", &[]);
    let browser = Browser::new(&d);
    let tokens = code_flow(&d, &browser, &app, "&scope=openid", "alice").await;
    let hint = s(&tokens, "id_token");
    let bye = "https%3A%2F%2Fapp.example.com%2Fbye";
    // The hint names the client: the redirect is allowed without client_id.
    let page = browser
        .get(&format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={bye}&state=s1&logout_hint=alice"
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let out = browser.submit(&page, &[]).await;
    assert_eq!(out.status, 303, "{}", out.text);
    assert_eq!(out.header("location"), Some("https://app.example.com/bye?state=s1"));
    // The browser is signed out: prompt=none now needs a login.
    let none = outcome(&browser, "app", "&scope=openid&prompt=none").await;
    assert_eq!(error_of(&none), "login_required");

    // A hint for another client than client_id, or not ours: an error page, no redirect.
    for query in [
        format!("id_token_hint={hint}&client_id=other&post_logout_redirect_uri={bye}"),
        format!("id_token_hint=e30.e30.AAAA&post_logout_redirect_uri={bye}"),
    ] {
        let page = browser.get(&format!("/oauth/logout?{query}")).await;
        assert_eq!(page.status, 400, "{query}");
        assert!(page.text.contains("invalid"), "{}", page.text);
        assert!(page.header("location").is_none());
    }
}

#[tokio::test]
async fn rotation_keeps_the_old_id_token_keys_published_and_signs_with_new_ones() {
    let d = TestDaemon::start();
    d.register("alice").await;
    let app = oidc_client(&d, "app", "openid", &["--first-party"]);
    let browser = Browser::new(&d);
    let before = code_flow(&d, &browser, &app, "&scope=openid", "alice").await;
    let (old_header, _) = verified(&d, &s(&before, "id_token")).await;
    let rotated = d.tessera(&["key", "rotate"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let keys = d.get("/oauth/jwks", None).await.json()["keys"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(keys.len(), 4, "two active, two retiring: {keys:?}");
    // The old token still verifies with the published keys; new ones use a new kid.
    verified(&d, &s(&before, "id_token")).await;
    let after = code_flow(&d, &browser, &app, "&scope=openid", "alice").await;
    let (new_header, _) = verified(&d, &s(&after, "id_token")).await;
    assert_ne!(new_header["kid"], old_header["kid"]);
    // Restarted: the same four keys, from the store.
    let d = d.restart();
    assert_eq!(
        d.get("/oauth/jwks", None).await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    verified(&d, &s(&after, "id_token")).await;
}

#[tokio::test]
async fn the_consent_form_cannot_stand_in_for_the_login_max_age_asks_for() {
    let d = TestDaemon::start();
    d.register("alice").await;
    oidc_client(&d, "third", "openid read", &[]);
    let mine = oidc_client(&d, "mine", "openid read", &["--first-party"]);
    let browser = Browser::new(&d);
    code_flow(&d, &browser, &mine, "&scope=openid", "alice").await;
    // max_age=0: the login page, whose form (and CSRF token) is then posted as a consent.
    let page = outcome(&browser, "third", "&scope=openid&max_age=0").await;
    assert!(page.text.contains("name=\"password\""), "{}", page.text);
    let forged = browser
        .submit(&page, &[("action", "consent"), ("decision", "allow")])
        .await;
    assert_eq!(forged.status, 200, "{}", forged.text);
    assert!(
        forged.text.contains("name=\"password\""),
        "the login page again, no code: {}",
        forged.text
    );
}
