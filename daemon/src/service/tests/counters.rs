//! The activity counters move with the audit events that define them.

use super::{OPERATOR, fixture, origin, password};
use crate::secret::Secret;

#[tokio::test]
async fn logins_failures_and_issued_tokens_are_counted() {
    let f = fixture().await;
    f.register("alice").await;
    f.login("alice", &password("alice")).await.unwrap();
    assert!(f.login("alice", "wrong-password").await.is_err());
    assert!(f.login("nobody", "wrong-password").await.is_err());
    let c = f.counters().await;
    assert_eq!((c.logins, c.failures, c.issued), (2, 2, 2));
}

#[tokio::test]
async fn every_revocation_moves_the_revocations_counter() {
    let f = fixture().await;
    let alice = f.register("alice").await;
    // RFC 7009 revocation of a refresh token ends its session.
    let refresh = alice.refresh_token.unwrap();
    f.service.revoke_token(refresh.expose(), origin()).await.unwrap();
    assert_eq!(f.counters().await.revocations, 1, "RFC 7009 revocation");
    // Setting a password ends the user's sessions.
    f.login("alice", &password("alice")).await.unwrap();
    f.service
        .set_password(OPERATOR, "alice", Secret::new("another-password".into()))
        .await
        .unwrap();
    let c = f.counters().await;
    assert_eq!((c.revocations, c.admin_actions), (2, 1), "set-password");
    f.service.revoke_all_sessions(OPERATOR, "alice").await.unwrap();
    assert_eq!(f.counters().await.revocations, 3, "revoke-all");
}

#[tokio::test]
async fn a_replayed_refresh_token_counts_as_reuse_and_revocation() {
    let f = fixture().await;
    let alice = f.register("alice").await;
    let first = alice.refresh_token.unwrap();
    let door = || super::super::sessions::RefreshBy::App;
    f.service
        .rotate_refresh(Some(first.clone()), origin(), door())
        .await
        .unwrap();
    assert!(f.service.rotate_refresh(Some(first), origin(), door()).await.is_err());
    let c = f.counters().await;
    assert_eq!((c.refreshes, c.reuse_detected, c.revocations), (1, 1, 1));
}
