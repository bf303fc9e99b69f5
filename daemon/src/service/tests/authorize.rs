//! The authorization code flow at the service, on the manual clock: a code expires,
//! is refused to another client and to a disabled user, and its scopes are narrowed
//! to the user's role.

use super::{OPERATOR, fixture_with, origin, password};
use crate::secret::Secret;
use crate::service::ServiceError;
use crate::service::authorize::AuthParams;
use crate::service::clients::NewClient;
use std::time::Duration;

/// The RFC 7636 appendix B pair.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn params(client: &str, scope: &str) -> AuthParams {
    AuthParams {
        response_type: Some("code".into()),
        client_id: Some(client.into()),
        redirect_uri: Some("http://127.0.0.1/cb".into()),
        scope: Some(scope.into()),
        state: Some("s".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
    }
}

fn public(id: &str, scopes: &[&str]) -> NewClient {
    NewClient {
        client_id: id.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        public: true,
        first_party: true,
        ..NewClient::default()
    }
}

/// Signs `name` in and returns the code for `client`'s request.
async fn code_for(f: &super::Fixture, name: &str, client: &str, scope: &str) -> String {
    let request = f.service.authorization_request(&params(client, scope)).await.unwrap();
    let (cookie, _) = f
        .service
        .page_login(name, Secret::new(password(name)), origin())
        .await
        .unwrap();
    let (session, user) = f.service.browser_session(Some(cookie.expose())).await.unwrap().unwrap();
    let location = f.service.issue_code(&request, &user, &session, origin()).await.unwrap();
    let query = location.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn a_code_expires_belongs_to_its_client_and_carries_only_the_roles_scopes() {
    let f = fixture_with("[oauth]\ncode_ttl = \"60s\"\n").await;
    f.register("alice").await;
    let cli = f
        .service
        .add_client(OPERATOR, public("cli", &["read", "admin"]))
        .await
        .unwrap();
    f.service
        .add_client(OPERATOR, public("other", &["read"]))
        .await
        .unwrap();
    let exchange = async |client: &str, code: &str| {
        let client = f.service.identify_public_client(client).await.unwrap();
        f.service
            .code_grant(
                Some(client),
                Some(Secret::new(code.into())),
                Some("http://127.0.0.1/cb".into()),
                Some(VERIFIER.into()),
                origin(),
            )
            .await
    };
    assert_eq!(cli.client_secret, None);

    // Asked for read and admin; alice's role (user) has no admin: narrowed silently.
    let code = code_for(&f, "alice", "cli", "read admin").await;
    let issued = exchange("cli", &code).await.unwrap();
    assert_eq!(issued.scopes, vec!["read".to_owned()]);

    let code = code_for(&f, "alice", "cli", "read").await;
    f.clock.advance(Duration::from_secs(60));
    let expired = exchange("cli", &code).await.unwrap_err();
    assert!(matches!(expired, ServiceError::InvalidGrant(_)), "{expired:?}");

    let code = code_for(&f, "alice", "cli", "read").await;
    let stolen = exchange("other", &code).await.unwrap_err();
    assert!(
        matches!(&stolen, ServiceError::InvalidGrant(m) if m.contains("another client")),
        "{stolen:?}"
    );

    let code = code_for(&f, "alice", "cli", "read").await;
    f.service.set_disabled(OPERATOR, "alice", true).await.unwrap();
    let disabled = exchange("cli", &code).await.unwrap_err();
    assert!(matches!(disabled, ServiceError::InvalidGrant(_)), "{disabled:?}");
}
