//! Interop: the widely used `oauth2` crate drives the daemon through the
//! client_credentials, password and refresh_token grants and introspects, with both
//! client authentication methods, and completes the authorization code flow with
//! PKCE as a public native client.

use crate::harness::{TestDaemon, password, s};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, IntrospectionUrl, ResourceOwnerPassword, ResourceOwnerUsername, RevocationUrl,
    Scope, StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};

#[tokio::test]
async fn the_oauth2_crate_gets_refreshes_and_introspects() {
    let d = TestDaemon::with("[oauth]\npassword_grant = true\n");
    d.register("alice").await;
    let created = d
        .tessera(&["client", "add", "interop", "--scopes", "read write", "--json"])
        .json();
    let secret = s(&created, "clientSecret");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new("interop".into()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_type(auth.clone())
            .set_token_uri(TokenUrl::new(d.url("/oauth/token")).unwrap())
            .set_introspection_url(IntrospectionUrl::new(d.url("/oauth/introspect")).unwrap())
            .set_revocation_url(RevocationUrl::new(d.url("/oauth/revoke")).unwrap());

        let cc = client
            .exchange_client_credentials()
            .add_scope(Scope::new("read".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("client_credentials with {auth:?}: {e:?}"));
        assert_eq!(cc.scopes().unwrap(), &vec![Scope::new("read".into())]);
        assert!(cc.refresh_token().is_none());

        let user = ResourceOwnerUsername::new("alice".into());
        let pw = ResourceOwnerPassword::new(password("alice"));
        let first = client
            .exchange_password(&user, &pw)
            .request_async(&http)
            .await
            .expect("password grant");
        assert!(first.access_token().secret().starts_with("v4.public."));
        let refresh = first.refresh_token().expect("a refresh token").clone();

        let second = client
            .exchange_refresh_token(&refresh)
            .request_async(&http)
            .await
            .expect("refresh grant");
        let introspect = |token| client.introspect(token).request_async(&http);
        assert!(introspect(second.access_token()).await.expect("introspection").active());
        match client.exchange_refresh_token(&refresh).request_async(&http).await {
            Err(oauth2::RequestTokenError::ServerResponse(e)) => {
                assert_eq!(*e.error(), oauth2::basic::BasicErrorResponseType::InvalidGrant);
            }
            other => panic!("a replayed refresh token must be invalid_grant: {other:?}"),
        }
        let after_replay = introspect(second.access_token()).await.expect("introspection");
        assert!(!after_replay.active(), "the replay revoked the session");

        let live = introspect(cc.access_token()).await.expect("introspection");
        assert!(live.active());
        assert_eq!(live.sub(), Some("interop"));

        // The crate refuses to revoke over plain http (RFC 7009 wants TLS), so the
        // revocation itself goes through reqwest; the crate then sees its effect.
        let revocable: StandardRevocableToken = cc.access_token().clone().into();
        assert!(
            client.revoke_token(revocable).is_err(),
            "oauth2 insists on https for revocation"
        );
        let form = [("token", cc.access_token().secret().as_str())];
        let revoked = http
            .post(d.url("/oauth/revoke"))
            .basic_auth("interop", Some(&secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        let dead = introspect(cc.access_token()).await.expect("introspection");
        assert!(!dead.active(), "revoked");
    }
}

#[tokio::test]
async fn the_oauth2_crate_completes_the_authorization_code_flow_with_pkce() {
    use oauth2::{AuthUrl, AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl};
    let d = TestDaemon::start();
    d.register("dana").await;
    let out = d.tessera(&[
        "client",
        "add",
        "native",
        "--scopes",
        "read",
        "--public",
        "--first-party",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let client = BasicClient::new(ClientId::new("native".into()))
        .set_auth_uri(AuthUrl::new(d.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(d.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:41234/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    // The person signs in at the page the app opened.
    let browser = crate::authorize::Browser::new(&d);
    let path = &url.as_str()[d.base.len()..];
    let login = browser.get(path).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let back = browser
        .submit(&login, &[("username", "dana"), ("password", &password("dana"))])
        .await;
    let location = reqwest::Url::parse(back.header("location").expect("a redirect")).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], *state.secret());
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    assert!(tokens.access_token().secret().starts_with("v4.public."));
    assert_eq!(tokens.scopes().unwrap(), &vec![Scope::new("read".into())]);
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .request_async(&http)
        .await
        .expect("a public client refreshes with its id alone");
    assert!(refreshed.access_token().secret().starts_with("v4.public."));
}
