//! The authorization code flow driven as a browser would (see README, "Sign in with Tessera"): a client that
//! keeps cookies, does not follow redirects (the test reads each `Location`), and
//! submits the forms it parses from the pages.

use crate::harness::{ISSUER, Resp, TestDaemon, password, s};
use crate::oauth::{client, introspect, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

/// A browser: cookies by name, sent back on every request.
pub(crate) struct Browser {
    base: String,
    cookies: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
}

impl Browser {
    pub(crate) fn new(d: &TestDaemon) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self::at(&d.base, http)
    }

    /// A browser for the daemon at `base`, sending with `http` (which must not follow
    /// redirects): an HTTPS daemon, with its certificate trusted.
    pub(crate) fn at(base: &str, http: reqwest::Client) -> Self {
        Self {
            base: base.to_owned(),
            cookies: Mutex::new(HashMap::new()),
            http,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let cookie = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("cookie", cookie)
        };
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let resp = Resp {
            status,
            headers,
            text: response.text().await.unwrap(),
        };
        for set in resp.set_cookies() {
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let mut jar = self.cookies.lock().unwrap();
                if value.is_empty() || set.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        resp
    }

    pub(crate) async fn get(&self, path_and_query: &str) -> Resp {
        self.send(self.http.get(format!("{}{path_and_query}", self.base))).await
    }

    pub(crate) async fn post(&self, path: &str, form: &[(String, String)]) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// Submits the page's form with its hidden fields plus `extra`.
    pub(crate) async fn submit(&self, page: &Resp, extra: &[(&str, &str)]) -> Resp {
        let mut fields = hidden_fields(&page.text);
        fields.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        fields.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let action = between(&page.text, "action=\"", "\"").expect("a form");
        self.post(&action, &fields).await
    }

    /// Opens the authorization request `url` and signs `user` in on its login page:
    /// the page that follows (consent, or the redirect back).
    pub(crate) async fn sign_in(&self, url: &str, user: &str) -> Resp {
        let login = self.get(url).await;
        self.submit(&login, &[("username", user), ("password", &password(user))])
            .await
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_owned())
}

fn unescape(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Every `<input type="hidden" name=… value=…>` of a page.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\"")
        .skip(1)
        .filter_map(|rest| {
            let name = between(rest, "name=\"", "\"")?;
            let value = between(rest, "value=\"", "\"")?;
            Some((name, unescape(&value)))
        })
        .collect()
}

/// A PKCE pair: (verifier, S256 challenge).
pub(crate) fn pkce() -> (String, String) {
    use sha2::Digest;
    let verifier = format!("v{}", "erifier-0123456789-abcdefghijklmnopqrstuvwxyz");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn authorize_url(client_id: &str, redirect_uri: &str, challenge: &str, extra: &str) -> String {
    let mut q = form_urlencoded_pairs(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", "st-42"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]);
    q.push_str(extra);
    format!("/oauth/authorize?{q}")
}

fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn utf8_percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The query parameters of a redirect's `Location`.
pub(crate) fn location_params(resp: &Resp) -> (String, HashMap<String, String>) {
    assert_eq!(resp.status, 303, "{}", resp.text);
    let location = resp.header("location").expect("a Location").to_owned();
    let (base, query) = location.split_once('?').unwrap_or((&location, ""));
    let params = reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (base.to_owned(), params)
}

pub(crate) async fn exchange(d: &TestDaemon, form: &[(&str, &str)], basic: Option<&(String, String)>) -> Resp {
    post(d, "/oauth/token", form, basic).await
}

/// The `error_description` of an OAuth error answer (which check refused it).
fn refusal(resp: &Resp) -> String {
    resp.json()["error_description"].as_str().unwrap_or_default().to_owned()
}

pub(crate) fn client_with(d: &TestDaemon, args: &[&str]) -> Option<String> {
    let mut all = vec!["client", "add"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = d.tessera(&all);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
        .get("clientSecret")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[tokio::test]
async fn a_first_party_web_app_signs_a_person_in_and_a_reused_code_revokes_its_tokens() {
    let d = TestDaemon::start();
    d.register("alice").await;
    let secret = client_with(
        &d,
        &[
            "web",
            "--scopes",
            "read write",
            "--first-party",
            "--redirect-uri",
            "https://web.example.com/cb",
        ],
    )
    .unwrap();
    let web = ("web".to_owned(), secret);
    let browser = Browser::new(&d);
    let (verifier, challenge) = pkce();
    let login = browser
        .get(&authorize_url("web", "https://web.example.com/cb", &challenge, ""))
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert!(login.text.contains("<h1>Sign in</h1>") && login.text.contains("<label for=\"password\">"));
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let csp = login.header("content-security-policy").unwrap().to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self' https://web.example.com"),
        "{csp}"
    );
    let csrf_cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("tessera_csrf="))
        .unwrap();
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax") && !csrf_cookie.contains("Secure")
    );

    let wrong = browser
        .submit(&login, &[("username", "alice"), ("password", "not-her-password")])
        .await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.text.contains("Wrong username or password."), "{}", wrong.text);
    let signed_in = browser
        .submit(&wrong, &[("username", "alice"), ("password", &password("alice"))])
        .await;
    let session_cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("tessera_browser="))
        .unwrap();
    assert!(
        session_cookie.contains("HttpOnly")
            && session_cookie.contains("SameSite=Lax")
            && session_cookie.contains("Path=/")
    );
    let (base, params) = location_params(&signed_in);
    assert_eq!(base, "https://web.example.com/cb");
    assert_eq!((params["state"].as_str(), params["iss"].as_str()), ("st-42", ISSUER));
    let code = params["code"].clone();
    assert!(code.starts_with("tsr_ac_"));

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://web.example.com/cb"),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens = exchange(&d, &form, Some(&web)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let tokens = tokens.json();
    assert_eq!(tokens["scope"], json!("read write"));
    let access = s(&tokens, "access_token");
    let me = d.get("/api/auth/me", Some(&access)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(crate::harness::claims(&access)["client_id"], json!("web"));

    // The browser is signed in now: the next authorization needs no password.
    let again = browser
        .get(&authorize_url("web", "https://web.example.com/cb", &challenge, ""))
        .await;
    assert!(location_params(&again).1.contains_key("code"));

    // The same code again: refused, and the tokens from its first use are revoked.
    assert_eq!(exchange(&d, &form, Some(&web)).await.code(), "invalid_grant");
    assert_eq!(d.get("/api/auth/me", Some(&access)).await.status, 401);
    let rs = client(&d, "rs", "read");
    assert_eq!(
        introspect(&d, &rs, &s(&tokens, "refresh_token")).await["active"],
        json!(false)
    );
    let audit = d.tessera(&["audit", "--limit", "20"]).stdout;
    for event in ["login.page.failure", "login.page.success", "code.issued", "code.reuse"] {
        assert!(audit.contains(event), "{event} in {audit}");
    }
    assert!(!audit.contains(&code) && !audit.contains(&verifier));
}

#[tokio::test]
async fn a_third_party_app_asks_for_consent_once_and_a_public_app_uses_pkce_alone() {
    let d = TestDaemon::start();
    d.register("bob").await;
    client_with(
        &d,
        &[
            "cli",
            "--scopes",
            "read write",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    let browser = Browser::new(&d);
    let (verifier, challenge) = pkce();
    // Loopback: any port matches the registered URI.
    let redirect = "http://127.0.0.1:53117/callback";
    let consent = browser
        .sign_in(&authorize_url("cli", redirect, &challenge, "&scope=read"), "bob")
        .await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(
        consent.text.contains("<strong>cli</strong> asks") && consent.text.contains("<li>read</li>"),
        "{}",
        consent.text
    );
    assert!(!consent.text.contains("<li>write</li>"), "only what was asked");
    let denied = browser.submit(&consent, &[("decision", "deny")]).await;
    let (_, params) = location_params(&denied);
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        ("access_denied", "st-42")
    );

    let consent = browser
        .get(&authorize_url("cli", redirect, &challenge, "&scope=read"))
        .await;
    let allowed = browser.submit(&consent, &[("decision", "allow")]).await;
    let (base, params) = location_params(&allowed);
    assert_eq!(base, redirect);
    // Remembered: no consent page the next time for the same scopes.
    let quiet = browser
        .get(&authorize_url("cli", redirect, &challenge, "&scope=read"))
        .await;
    assert!(location_params(&quiet).1.contains_key("code"));

    let form = |verifier: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), params["code"].clone()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("client_id".to_owned(), "cli".to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ]
    };
    let wrong = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .form(&form("wrong-verifier-0123456789-0123456789-0123456789")),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code(), refusal(&wrong)),
        (
            400,
            "invalid_grant".to_owned(),
            "code_verifier does not match the code_challenge".to_owned()
        ),
        "a wrong verifier is refused at the verifier check, after the code was taken: {}",
        wrong.text
    );
    // That attempt used the code up: the right verifier now finds it spent, and the
    // daemon treats the second presentation as a reuse.
    let spent = d
        .send(d.client().post(d.url("/oauth/token")).form(&form(verifier.as_str())))
        .await;
    assert_eq!(
        (spent.status, spent.code(), refusal(&spent)),
        (
            400,
            "invalid_grant".to_owned(),
            "the code is invalid, used or expired".to_owned()
        ),
        "a code that failed once is spent: even the right verifier cannot redeem it: {}",
        spent.text
    );
    let audit = d.tessera(&["audit", "--limit", "30"]).stdout;
    assert!(
        audit.contains("code.reuse"),
        "the second presentation of the spent code was audited as a reuse: {audit}"
    );
    // Another public client, which also names itself alone.
    client_with(
        &d,
        &[
            "other",
            "--scopes",
            "read",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    // A code is bound to the client it was issued to: the other client, with the
    // right verifier and redirect URI, cannot redeem one issued to cli.
    let for_cli = browser
        .get(&authorize_url("cli", redirect, &challenge, "&scope=read"))
        .await;
    let (_, for_cli) = location_params(&for_cli);
    let stolen = d
        .send(d.client().post(d.url("/oauth/token")).form(&[
            ("grant_type", "authorization_code"),
            ("code", for_cli["code"].as_str()),
            ("redirect_uri", redirect),
            ("client_id", "other"),
            ("code_verifier", verifier.as_str()),
        ]))
        .await;
    assert_eq!(
        (stolen.status, stolen.code(), refusal(&stolen)),
        (
            400,
            "invalid_grant".to_owned(),
            "the code was issued to another client".to_owned()
        ),
        "a code issued to cli is refused to another client: {}",
        stolen.text
    );
    // A public client tries a fresh one.
    let fresh = browser
        .get(&authorize_url("cli", redirect, &challenge, "&scope=read"))
        .await;
    let (_, params) = location_params(&fresh);
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", redirect),
        ("client_id", "cli"),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens = d.send(d.client().post(d.url("/oauth/token")).form(&redeem)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let tokens = tokens.json();
    assert_eq!(tokens["scope"], json!("read"));
    // The refresh token is bound to the public client, which names itself alone: the
    // other public client naming itself, no client at all, or the app-facing refresh
    // cannot exchange it, and those refusals leave it valid for cli.
    let refresh = s(&tokens, "refresh_token");
    let as_other = d
        .send(d.client().post(d.url("/oauth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "other"),
        ]))
        .await;
    assert_eq!(
        (as_other.status, as_other.code(), refusal(&as_other)),
        (
            400,
            "invalid_grant".to_owned(),
            "the refresh token is invalid, expired, revoked or bound to another client".to_owned()
        ),
        "cli's refresh token is refused to another public client: {}",
        as_other.text
    );
    let unbound = d
        .send(
            d.client()
                .post(d.url("/oauth/token"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())]),
        )
        .await;
    assert_eq!(
        (unbound.status, unbound.code()),
        (400, "invalid_grant".to_owned()),
        "cli's refresh token is refused without a client: {}",
        unbound.text
    );
    let app = d.rotate(&refresh).await;
    assert_eq!(
        (app.status, app.code()),
        (401, "INVALID_TOKEN".to_owned()),
        "cli's refresh token is refused at the app-facing refresh, which names no client: {}",
        app.text
    );
    let refreshed = d
        .send(d.client().post(d.url("/oauth/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "cli"),
        ]))
        .await;
    assert_eq!(
        refreshed.status, 200,
        "the refusals to others left cli's refresh token valid for cli: {}",
        refreshed.text
    );
    let refreshed = refreshed.json();
    // Presenting the redeemed code again revokes what its exchange led to, refreshed
    // tokens included (RFC 6749 §4.1.2).
    let reused = d.send(d.client().post(d.url("/oauth/token")).form(&redeem)).await;
    assert_eq!(
        (reused.status, reused.code()),
        (400, "invalid_grant".to_owned()),
        "a redeemed code is refused the second time: {}",
        reused.text
    );
    let rs = client(&d, "rs", "read");
    for token in [s(&refreshed, "access_token"), s(&refreshed, "refresh_token")] {
        assert_eq!(
            introspect(&d, &rs, &token).await["active"],
            json!(false),
            "the reuse of the code revoked the session it opened, refreshed tokens included"
        );
    }
    let audit = d.tessera(&["audit", "--limit", "30"]).stdout;
    assert!(
        audit.contains("consent.denied") && audit.contains("consent.granted"),
        "{audit}"
    );
}

#[tokio::test]
async fn requests_that_cannot_be_trusted_get_an_error_page_and_the_rest_go_back_with_an_error() {
    let d = TestDaemon::start();
    client_with(
        &d,
        &[
            "web",
            "--scopes",
            "read",
            "--redirect-uri",
            "https://web.example.com/cb",
        ],
    );
    client_with(&d, &["svc", "--scopes", "read"]);
    let browser = Browser::new(&d);
    let (_, challenge) = pkce();
    for (url, why) in [
        (
            authorize_url("nobody", "https://web.example.com/cb", &challenge, ""),
            "unknown client",
        ),
        (
            authorize_url("web", "https://evil.example.com/cb", &challenge, ""),
            "unregistered redirect",
        ),
        (
            authorize_url("svc", "https://web.example.com/cb", &challenge, ""),
            "a client without redirect URIs",
        ),
        ("/oauth/authorize?response_type=code".to_owned(), "no client"),
    ] {
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400, "{why}: {}", page.text);
        assert!(page.header("location").is_none(), "{why}: never a redirect");
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
    }
    let redirect = "https://web.example.com/cb";
    for (extra, challenge, error) in [
        ("", "", "invalid_request"),
        ("&code_challenge_method=plain", challenge.as_str(), "invalid_request"),
        ("&scope=admin", challenge.as_str(), "invalid_scope"),
    ] {
        // A later parameter overrides an earlier one of the same name.
        let url = if challenge.is_empty() {
            format!(
                "/oauth/authorize?response_type=code&client_id=web&redirect_uri={}&state=st-42",
                utf8_percent(redirect)
            )
        } else {
            authorize_url("web", redirect, challenge, extra)
        };
        let resp = browser.get(&url).await;
        let (base, params) = location_params(&resp);
        assert_eq!(base, redirect);
        assert_eq!(params["error"], error, "{url}");
        assert_eq!((params["state"].as_str(), params["iss"].as_str()), ("st-42", ISSUER));
    }
    let wrong_type = browser
        .get(&authorize_url("web", redirect, &challenge, "").replace("response_type=code", "response_type=token"))
        .await;
    assert_eq!(location_params(&wrong_type).1["error"], "unsupported_response_type");

    // A form without this browser's CSRF token is refused.
    let login = browser.get(&authorize_url("web", redirect, &challenge, "")).await;
    let other = Browser::new(&d);
    let forged = other.submit(&login, &[("username", "x"), ("password", "y")]).await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    let missing = browser
        .submit(&login, &[("csrf", ""), ("username", "x"), ("password", "y")])
        .await;
    assert_eq!(missing.status, 403);
}

#[tokio::test]
async fn the_browser_session_is_listed_revocable_and_ends_at_logout() {
    let d = TestDaemon::start();
    d.register("carol").await;
    client_with(
        &d,
        &[
            "web",
            "--scopes",
            "read",
            "--first-party",
            "--redirect-uri",
            "https://web.example.com/cb",
            "--post-logout-redirect-uri",
            "https://web.example.com/bye",
        ],
    );
    let browser = Browser::new(&d);
    let (_, challenge) = pkce();
    let url = authorize_url("web", "https://web.example.com/cb", &challenge, "");
    let login = browser.get(&url).await;
    browser
        .submit(&login, &[("username", "carol"), ("password", &password("carol"))])
        .await;
    let sessions = d.tessera(&["session", "list", "carol", "--json"]).json();
    let listed = sessions.as_array().unwrap();
    let browser_session = listed
        .iter()
        .find(|s| s["kind"] == json!("browser"))
        .expect("a browser session");
    // Revoked from the console: the next authorization asks for the password again.
    let id = browser_session["id"].as_str().unwrap();
    assert_eq!(d.tessera(&["session", "revoke", id]).code, 0);
    let again = browser.get(&url).await;
    assert_eq!(again.status, 200);
    assert!(again.text.contains("<h1>Sign in</h1>"));
    let signed_in = browser
        .submit(&again, &[("username", "carol"), ("password", &password("carol"))])
        .await;
    assert_eq!(signed_in.status, 303);
    assert!(browser.cookie("tessera_browser").is_some());

    let logout = browser
        .get("/oauth/logout?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fweb.example.com%2Fbye&state=s1")
        .await;
    assert_eq!(logout.status, 200);
    assert!(
        logout
            .header("content-security-policy")
            .unwrap()
            .contains("https://web.example.com")
    );
    let out = browser.submit(&logout, &[]).await;
    let (base, params) = location_params(&out);
    assert_eq!(
        (base.as_str(), params["state"].as_str()),
        ("https://web.example.com/bye", "s1")
    );
    assert!(browser.cookie("tessera_browser").is_none(), "the cookie is cleared");
    let after = browser.get(&url).await;
    assert!(after.text.contains("<h1>Sign in</h1>"), "signed out");
    // Without a registered destination: the signed-out page.
    let plain = browser.get("/oauth/logout").await;
    let page = browser.submit(&plain, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("signed out"), "{}", page.text);
}

#[tokio::test]
async fn the_login_page_is_throttled_and_says_nothing_more_to_a_disabled_user() {
    let d = TestDaemon::with("[throttle]\nmax_failures = 2\n");
    d.register("erin").await;
    d.register("fred").await;
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
    let (_, challenge) = pkce();
    let url = authorize_url("web", "https://web.example.com/cb", &challenge, "");
    let browser = Browser::new(&d);
    assert_eq!(d.tessera(&["user", "disable", "fred"]).code, 0);
    let login = browser.get(&url).await;
    let disabled = browser
        .submit(&login, &[("username", "fred"), ("password", &password("fred"))])
        .await;
    assert_eq!(disabled.status, 200);
    assert!(
        disabled.text.contains("Wrong username or password."),
        "{}",
        disabled.text
    );
    assert!(!disabled.text.contains("disabled"));
    let mut page = browser.get(&url).await;
    for _ in 0..2 {
        page = browser
            .submit(&page, &[("username", "erin"), ("password", "wrong-password")])
            .await;
        assert_eq!(page.status, 200);
    }
    let throttled = browser
        .submit(&page, &[("username", "erin"), ("password", &password("erin"))])
        .await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert!(throttled.header("retry-after").is_some());
    assert!(throttled.text.contains("Too many attempts"), "{}", throttled.text);
}

#[tokio::test]
async fn cookies_are_secure_when_the_issuer_is_https() {
    let d = TestDaemon::with("[server]\nissuer = \"https://auth.example.com\"\n");
    client_with(
        &d,
        &[
            "web",
            "--scopes",
            "read",
            "--redirect-uri",
            "https://web.example.com/cb",
        ],
    );
    let (_, challenge) = pkce();
    let page = Browser::new(&d)
        .get(&authorize_url("web", "https://web.example.com/cb", &challenge, ""))
        .await;
    let cookie = page.set_cookies().into_iter().next().expect("a CSRF cookie");
    assert!(cookie.starts_with("__Host-tessera_csrf="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
}

/// Under an https issuer a neighbouring site can plant cookies in the domain, but not
/// `__Host-` ones: the daemon reads its cookies only by those names, and a form token
/// is keyed by the daemon and bound to the signed-in session, so a token the attacker
/// computed, or got drawn for a cookie of its own, forges no consent.
#[tokio::test]
async fn a_planted_csrf_cookie_forges_no_consent_under_an_https_issuer() {
    use sha2::Digest;
    let d = TestDaemon::with("[server]\nissuer = \"https://auth.example.com\"\n");
    client_with(
        &d,
        &[
            "web",
            "--scopes",
            "read write",
            "--redirect-uri",
            "https://web.example.com/cb",
        ],
    );
    d.register("frank").await;
    let (_, challenge) = pkce();
    let url = authorize_url("web", "https://web.example.com/cb", &challenge, "&scope=read%20write");
    let victim = Browser::new(&d);
    let consent = victim.sign_in(&url, "frank").await;
    assert!(consent.text.contains("Allow access?"), "{}", consent.text);
    let session = victim
        .cookie("__Host-tessera_browser")
        .expect("the session cookie is __Host-");
    assert!(victim.cookie("tessera_browser").is_none() && victim.cookie("tessera_csrf").is_none());

    // The attacker's own visit: a CSRF cookie of its own and the token drawn for it.
    let attacker = Browser::new(&d);
    let drawn = attacker.get(&url).await;
    let own_cookie = attacker.cookie("__Host-tessera_csrf").unwrap();
    let own_token = hidden_fields(&drawn.text)
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .unwrap()
        .1;
    let planted = "tsr_cf_planted-by-a-sibling";
    let unkeyed = {
        let digest = sha2::Sha256::digest(format!("csrf:{planted}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let raw = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forge = |cookie: String, token: String| {
        let mut form = hidden_fields(&consent.text);
        form.retain(|(k, _)| k != "csrf");
        form.push(("csrf".into(), token));
        form.push(("decision".into(), "allow".into()));
        let request = raw.post(d.url("/oauth/authorize")).header("cookie", cookie).form(&form);
        d.send(request)
    };
    for (cookie, token, what) in [
        (
            format!("__Host-tessera_browser={session}; tessera_csrf={planted}"),
            unkeyed.clone(),
            "a plain-named cookie and its unkeyed digest",
        ),
        (
            format!("__Host-tessera_browser={session}; __Host-tessera_csrf={planted}"),
            unkeyed,
            "the digest of a planted cookie",
        ),
        (
            format!("__Host-tessera_browser={session}; __Host-tessera_csrf={own_cookie}"),
            own_token,
            "a token drawn for the attacker's cookie before sign-in",
        ),
    ] {
        let forged = forge(cookie, token).await;
        assert_eq!(forged.status, 403, "{what}: {}", forged.text);
        assert!(forged.header("location").is_none(), "{what}");
    }
    // A plain-named session cookie is not a session here (no login CSRF, no fixation).
    let fixed = d
        .send(
            raw.get(d.url(&url))
                .header("cookie", format!("tessera_browser={session}")),
        )
        .await;
    assert!(fixed.text.contains("Sign in"), "{}", fixed.text);
    // The person's own form still goes through.
    let allowed = victim.submit(&consent, &[("decision", "allow")]).await;
    assert_eq!(allowed.status, 303, "{}", allowed.text);
    assert!(location_params(&allowed).1.contains_key("code"));
}

/// Signs `user` in to the public client `client_id` through the browser, allows it
/// `scope`, and exchanges the code: the app's token response.
async fn app_tokens(d: &TestDaemon, client_id: &str, user: &str, scope: &str) -> Value {
    let redirect = "http://127.0.0.1:53117/callback";
    let browser = Browser::new(d);
    let (verifier, challenge) = pkce();
    let scope_param = format!("&scope={}", utf8_percent(scope));
    let consent = browser
        .sign_in(&authorize_url(client_id, redirect, &challenge, &scope_param), user)
        .await;
    let allowed = browser.submit(&consent, &[("decision", "allow")]).await;
    let (_, params) = location_params(&allowed);
    let tokens = exchange(
        d,
        &[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    tokens.json()
}

#[tokio::test]
async fn an_apps_token_cannot_manage_the_persons_api_tokens() {
    let d = TestDaemon::start();
    let own = s(&d.register("carol").await, "accessToken");
    client_with(
        &d,
        &[
            "reader",
            "--scopes",
            "read",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    let app = s(&app_tokens(&d, "reader", "carol", "read").await, "access_token");
    d.assert_live(&app).await;

    // An API token minted by the app would outlive the consent and the password.
    let minted = d.create_api_token(&app, json!({"name": "backdoor"})).await;
    assert_eq!(
        (minted.status, minted.code()),
        (403, "INSUFFICIENT_SCOPE".into()),
        "{}",
        minted.text
    );
    let mine = d.create_api_token(&own, json!({"name": "mine"})).await;
    assert_eq!(mine.status, 201, "the person's own session still can: {}", mine.text);
    let id = s(&mine.json(), "id");
    let listed = d.get("/api/auth/api-tokens", Some(&app)).await;
    assert_eq!((listed.status, listed.code()), (403, "INSUFFICIENT_SCOPE".into()));
    let deleted = d
        .send(
            d.client()
                .delete(d.url(&format!("/api/auth/api-tokens/{id}")))
                .bearer_auth(&app),
        )
        .await;
    assert_eq!((deleted.status, deleted.code()), (403, "INSUFFICIENT_SCOPE".into()));
    let listed = d.get("/api/auth/api-tokens", Some(&own)).await;
    assert_eq!(
        listed.json()["tokens"].as_array().map(Vec::len),
        Some(1),
        "nothing was deleted"
    );
}

#[tokio::test]
async fn a_client_added_again_under_a_removed_id_asks_for_consent_again() {
    let d = TestDaemon::start();
    d.register("dan").await;
    let add = |redirect: &str| {
        client_with(
            &d,
            &["g1", "--scopes", "read write", "--public", "--redirect-uri", redirect],
        )
    };
    add("http://127.0.0.1/callback");
    let browser = Browser::new(&d);
    let (_, challenge) = pkce();
    let first = "http://127.0.0.1:53117/callback";
    let consent = browser
        .sign_in(&authorize_url("g1", first, &challenge, "&scope=read%20write"), "dan")
        .await;
    assert!(consent.text.contains("<strong>g1</strong> asks"), "{}", consent.text);
    location_params(&browser.submit(&consent, &[("decision", "allow")]).await);
    let remembered = browser
        .get(&authorize_url("g1", first, &challenge, "&scope=read%20write"))
        .await;
    assert!(
        location_params(&remembered).1.contains_key("code"),
        "consent remembered"
    );

    // The id is removed, then taken again by another app with its own redirect URI.
    assert_eq!(d.tessera(&["client", "remove", "g1"]).code, 0);
    add("http://127.0.0.1/elsewhere");
    let other = "http://127.0.0.1:40000/elsewhere";
    let asked = browser
        .get(&authorize_url("g1", other, &challenge, "&scope=read%20write"))
        .await;
    assert_eq!(
        asked.status,
        200,
        "the new g1 must ask, not receive a code: {:?}",
        asked.header("location")
    );
    assert!(asked.text.contains("<strong>g1</strong> asks"), "{}", asked.text);
}

#[tokio::test]
async fn an_apps_tokens_die_with_the_app() {
    let d = TestDaemon::start();
    d.register("erin").await;
    client_with(
        &d,
        &[
            "g2",
            "--scopes",
            "read",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    let tokens = app_tokens(&d, "g2", "erin", "read").await;
    let access = s(&tokens, "access_token");
    d.assert_live(&access).await;
    assert_eq!(d.post_bearer("/api/auth/refresh", &access).await.status, 200);
    // The app's session and Erin's consent, as the operator sees them.
    let app_session = || {
        let sessions = d.tessera(&["session", "list", "erin", "--json"]).json();
        sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.to_string().contains("\"g2\""))
    };
    let grants = || d.tessera(&["user", "grants", "erin", "--json"]).json().to_string();
    assert!(app_session());
    assert!(grants().contains("g2"), "{}", grants());

    assert_eq!(d.tessera(&["client", "remove", "g2"]).code, 0);
    assert!(!app_session(), "the app's session ended with it");
    assert!(!grants().contains("g2"), "the consent went with it: {}", grants());
    d.assert_dead(&access).await;
    let refreshed = d.post_bearer("/api/auth/refresh", &access).await;
    assert_eq!(
        (refreshed.status, refreshed.code()),
        (401, "INVALID_TOKEN".into()),
        "{}",
        refreshed.text
    );
    // Added again, the id is another app's: the old app's token stays dead.
    client_with(
        &d,
        &[
            "g2",
            "--scopes",
            "read",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    d.assert_dead(&access).await;
}
