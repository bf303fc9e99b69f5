//! Lifetimes, on the manual clock: access tokens, refresh tokens (sliding, capped by
//! the session's maximum age) and API tokens end exactly when the rules say.

use super::{OPERATOR, confidential, fixture_with, origin};
use crate::secret::Secret;
use crate::service::ServiceError;
use crate::service::api_tokens::NewApiToken;
use crate::service::clients::ClientCredentials;
use crate::service::sessions::RefreshBy;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn is_invalid_token(e: &ServiceError) -> bool {
    matches!(e, ServiceError::InvalidToken { presented: true })
}

#[tokio::test]
async fn an_access_token_works_until_its_expiry_and_not_at_it() {
    let f = fixture_with("[tokens]\naccess_ttl = \"15m\"\n").await;
    let alice = f.register("alice").await;
    assert_eq!(alice.expires_in, 900);
    f.clock.advance(Duration::from_secs(899));
    f.service.authenticate(Some(&alice.access_token)).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    let e = f.service.authenticate(Some(&alice.access_token)).await.unwrap_err();
    assert!(is_invalid_token(&e), "{e:?}");
    assert!(!f.service.introspect(&alice.access_token).await.unwrap().active);
}

#[tokio::test]
async fn refresh_tokens_slide_but_never_past_the_session_maximum_age() {
    let f = fixture_with("[tokens]\nrefresh_ttl = \"2h\"\nsession_max_age = \"5h\"\n").await;
    let mut refresh = f.register("alice").await.refresh_token.unwrap();
    // Each rotation inside the TTL gives a token with a fresh TTL: the session lives
    // well past the first token's 2 h...
    for step in [119, 119, 61] {
        f.clock.advance(Duration::from_secs(step * 60));
        let issued = f
            .service
            .rotate_refresh(Some(refresh), origin(), RefreshBy::App)
            .await
            .unwrap_or_else(|e| panic!("inside the sliding window at {} s: {e:?}", f.clock_elapsed()));
        refresh = issued.refresh_token.unwrap();
        // ...and no access token outlives the session (5 h after it opened).
        let left = 5 * 3600 - f.clock_elapsed();
        assert!(issued.expires_in <= left, "{} s with {left} s left", issued.expires_in);
    }
    // The last token (issued at 4h59m, TTL 2 h) is capped at the session's end: 5 h.
    f.clock.advance(Duration::from_secs(60));
    let e = f
        .service
        .rotate_refresh(Some(refresh), origin(), RefreshBy::App)
        .await
        .unwrap_err();
    assert!(is_invalid_token(&e), "{e:?}");
}

#[tokio::test]
async fn an_unused_refresh_token_dies_at_its_ttl() {
    let f = fixture_with("[tokens]\nrefresh_ttl = \"2h\"\n").await;
    let alice = f.register("alice").await;
    let refresh = alice.refresh_token.unwrap();
    f.clock.advance(2 * HOUR);
    let e = f
        .service
        .rotate_refresh(Some(refresh.clone()), origin(), RefreshBy::App)
        .await
        .unwrap_err();
    assert!(is_invalid_token(&e), "{e:?}");
    assert!(!f.service.introspect(refresh.expose()).await.unwrap().active);
}

#[tokio::test]
async fn an_api_token_stops_working_at_its_expiry() {
    let f = fixture_with("").await;
    let alice = f.register("alice").await;
    let caller = f.service.authenticate(Some(&alice.access_token)).await.unwrap();
    let input = NewApiToken {
        name: Some("ci".into()),
        scopes: None,
        expires_in: Some(600),
    };
    let created = f.service.create_api_token(&caller, input).await.unwrap();
    f.clock.advance(Duration::from_secs(599));
    f.service.authenticate(Some(&created.token)).await.unwrap();
    assert!(f.service.introspect(&created.token).await.unwrap().active);
    f.clock.advance(Duration::from_secs(1));
    let e = f.service.authenticate(Some(&created.token)).await.unwrap_err();
    assert!(is_invalid_token(&e), "{e:?}");
    assert!(!f.service.introspect(&created.token).await.unwrap().active);
}

#[tokio::test]
async fn after_the_access_token_expires_the_refresh_token_still_works() {
    let f = fixture_with("[tokens]\naccess_ttl = \"15m\"\n").await;
    let alice = f.register("alice").await;
    f.clock.advance(Duration::from_secs(900));
    assert!(f.service.authenticate(Some(&alice.access_token)).await.is_err());
    let next = f
        .service
        .rotate_refresh(alice.refresh_token, origin(), RefreshBy::App)
        .await
        .unwrap();
    f.service.authenticate(Some(&next.access_token)).await.unwrap();
}

#[tokio::test]
async fn a_client_credentials_token_expires_like_any_access_token() {
    let f = fixture_with("[tokens]\naccess_ttl = \"15m\"\n").await;
    let created = f.service.add_client(OPERATOR, confidential("rs")).await.unwrap();
    let credentials = ClientCredentials {
        id: "rs".into(),
        secret: Secret::new(created.client_secret.unwrap()),
    };
    let client = f.service.authenticate_client(&credentials).await.unwrap();
    let token = f.service.client_credentials_grant(&client, None).unwrap().access_token;
    f.clock.advance(Duration::from_secs(899));
    assert!(f.service.introspect(&token).await.unwrap().active);
    f.clock.advance(Duration::from_secs(1));
    assert!(!f.service.introspect(&token).await.unwrap().active);
}
