//! The periodic upkeep on the manual clock: the purge of expired records, the
//! deny-list, and the sweep of retiring signing keys.

use super::{OPERATOR, fixture_with, origin};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_purge_deletes_refresh_tokens_and_sessions_once_expired() {
    let f = fixture_with("[tokens]\nrefresh_ttl = \"30m\"\nsession_max_age = \"1h\"\n").await;
    let alice = f.register("alice").await;
    let digest = alice.refresh_token.as_ref().unwrap().digest();
    let store = &f.service.store;
    f.clock.advance(29 * MINUTE);
    f.service.purge_expired().await;
    assert!(store.refresh_token(&digest).await.unwrap().is_some(), "not expired yet");
    f.clock.advance(MINUTE);
    f.service.purge_expired().await;
    assert!(
        store.refresh_token(&digest).await.unwrap().is_none(),
        "refresh token purged at its expiry"
    );
    assert_eq!(store.live_sessions(0).await.unwrap().len(), 1, "the session lives on");
    f.clock.advance(30 * MINUTE);
    f.service.purge_expired().await;
    assert!(
        store.live_sessions(0).await.unwrap().is_empty(),
        "session purged at its maximum age"
    );
}

#[tokio::test]
async fn a_denied_jti_is_kept_until_its_token_expires() {
    let f = fixture_with("[tokens]\naccess_ttl = \"10m\"\n").await;
    let alice = f.register("alice").await;
    f.service.revoke_token(&alice.access_token, origin()).await.unwrap();
    let store = &f.service.store;
    let now = || f.clock_now();
    f.clock.advance(9 * MINUTE);
    f.service.sweep().await;
    f.service.purge_expired().await;
    assert_eq!(store.deny_list(now()).await.unwrap().len(), 1, "still needed");
    assert!(f.service.authenticate(Some(&alice.access_token)).await.is_err());
    f.clock.advance(MINUTE);
    f.service.sweep().await;
    f.service.purge_expired().await;
    assert!(
        store.deny_list(0).await.unwrap().is_empty(),
        "purged once the token expired"
    );
    assert!(
        f.service.authenticate(Some(&alice.access_token)).await.is_err(),
        "expired"
    );
}

#[tokio::test]
async fn a_retiring_key_verifies_until_every_token_it_signed_has_expired() {
    let f = fixture_with("[tokens]\naccess_ttl = \"10m\"\nguest_ttl = \"20m\"\n[guest]\nenabled = true\n").await;
    let guest = f.service.guest().unwrap();
    let keys = f.service.rotate_key(OPERATOR).await.unwrap();
    assert_eq!(keys.len(), 2, "the old key is retiring");
    assert_eq!(f.service.jwks().keys.len(), 4, "and the old ID-token keys");
    // The longest TTL (the guest's, 20 min) after the rotation, not before.
    f.clock.advance(20 * MINUTE - Duration::from_secs(1));
    f.service.sweep().await;
    assert_eq!(f.service.keys().len(), 2);
    f.service.authenticate(Some(&guest.access_token)).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    f.service.sweep().await;
    assert_eq!(f.service.keys().len(), 1, "the retired key is dropped");
    assert_eq!(f.service.jwks().keys.len(), 2, "the retired ID-token keys too");
    assert_eq!(
        f.service.store.keys().await.unwrap().len(),
        3,
        "and deleted from the store: one PASETO and two ID-token keys are left"
    );
}

#[tokio::test]
async fn audit_entries_older_than_the_retention_are_purged() {
    let f = fixture_with("[audit]\nretain = \"1h\"\n").await;
    f.register("old").await;
    f.clock.advance(61 * MINUTE);
    f.register("new").await;
    let details = async || -> Vec<Option<String>> {
        f.service
            .audit_tail(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect()
    };
    assert_eq!(details().await.len(), 2);
    f.service.purge_expired().await;
    assert_eq!(
        details().await,
        [Some("new".to_owned())],
        "only the entry younger than an hour"
    );
}
