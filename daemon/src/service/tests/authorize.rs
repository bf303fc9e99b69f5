//! The authorization code flow at the service, on the manual clock: a code expires,
//! is refused to another client and to a disabled user, and its scopes are narrowed
//! to the user's role.

use super::{OPERATOR, fixture_with, origin, password};
use crate::secret::Secret;
use crate::service::ServiceError;
use crate::service::authorize::AuthParams;
use crate::service::clients::NewClient;
use crate::service::signin::{Notice, SignIn};
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
        ..AuthParams::default()
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

/// The `name` query parameter of `location`.
fn query_param(location: &str, name: &str) -> Option<String> {
    let query = location.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs `name` in at the login form and returns the code for `client`'s request.
async fn code_for(f: &super::Fixture, name: &str, client: &str, scope: &str) -> String {
    let (step, opened) = f
        .service
        .sign_in_with_password(
            &params(client, scope),
            None,
            Some(name.into()),
            Some(Secret::new(password(name))),
            origin(),
        )
        .await
        .unwrap();
    assert!(opened.is_some(), "the login opened a browser session");
    let SignIn::Redirect(location) = step else {
        panic!("a first-party client gets its code at once: {step:?}");
    };
    query_param(&location, "code").expect("a code")
}

#[tokio::test]
async fn the_sign_in_pages_steps_are_typed_answers() {
    let f = fixture_with("").await;
    f.register("alice").await;
    let third_party = NewClient {
        first_party: false,
        ..public("notes", &["read"])
    };
    f.service.add_client(OPERATOR, third_party).await.unwrap();
    let p = params("notes", "read");
    // No browser session: the login form, for this client, whose forms may go back
    // to the redirect URI's origin.
    let SignIn::Login { page, notice: None } = f.service.sign_in(&p, None, origin()).await.unwrap() else {
        panic!("the login form first");
    };
    assert_eq!(page.client_id, "notes");
    assert_eq!(page.redirect_origin.as_deref(), Some("http://127.0.0.1"));
    // A wrong password: the form again, saying so, and no session.
    let wrong = f
        .service
        .sign_in_with_password(
            &p,
            None,
            Some("alice".into()),
            Some(Secret::new("nope".into())),
            origin(),
        )
        .await
        .unwrap();
    assert!(matches!(
        wrong,
        (
            SignIn::Login {
                notice: Some(Notice::WrongCredentials),
                ..
            },
            None
        )
    ));
    let missing = f
        .service
        .sign_in_with_password(&p, None, None, None, origin())
        .await
        .unwrap();
    assert!(matches!(
        missing,
        (
            SignIn::Login {
                notice: Some(Notice::MissingCredentials),
                ..
            },
            None
        )
    ));
    // The right one: a session, and the consent page for a third-party client.
    let (step, opened) = f
        .service
        .sign_in_with_password(
            &p,
            None,
            Some("alice".into()),
            Some(Secret::new(password("alice"))),
            origin(),
        )
        .await
        .unwrap();
    let cookie = opened.expect("a browser session").cookie;
    let SignIn::Consent { username, scopes, .. } = step else {
        panic!("consent for a third-party client: {step:?}");
    };
    assert_eq!((username.as_str(), scopes), ("alice", vec!["read".to_owned()]));
    // Deny: back to the client with access_denied; nothing remembered.
    let denied = f
        .service
        .sign_in_consent(&p, Some(cookie.expose()), false, origin())
        .await
        .unwrap();
    let SignIn::Redirect(location) = denied else {
        panic!("denied goes back: {denied:?}");
    };
    assert_eq!(query_param(&location, "error").as_deref(), Some("access_denied"));
    assert!(matches!(
        f.service.sign_in(&p, Some(cookie.expose()), origin()).await.unwrap(),
        SignIn::Consent { .. }
    ));
    // Allow: a code; from then on the signed-in browser gets a code without asking.
    let allowed = f
        .service
        .sign_in_consent(&p, Some(cookie.expose()), true, origin())
        .await
        .unwrap();
    let SignIn::Redirect(location) = allowed else {
        panic!("allowed goes back: {allowed:?}");
    };
    assert!(query_param(&location, "code").is_some(), "{location}");
    let SignIn::Redirect(again) = f.service.sign_in(&p, Some(cookie.expose()), origin()).await.unwrap() else {
        panic!("no second consent");
    };
    assert!(query_param(&again, "code").is_some(), "{again}");
    // A request whose client is unknown is a problem page, whatever the browser.
    assert!(matches!(
        f.service
            .sign_in(&params("ghost", "read"), Some(cookie.expose()), origin())
            .await
            .unwrap(),
        SignIn::Problem(_)
    ));
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
