//! Interop: the widely used `oauth2` crate drives the daemon through the
//! client_credentials, password and refresh_token grants and introspects, with both
//! client authentication methods.

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
