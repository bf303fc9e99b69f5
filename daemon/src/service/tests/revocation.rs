//! Contract §4: revoking a session, disabling or deleting a user, setting a password,
//! or revoking a token takes effect at once for `authenticate` (what `/me` uses),
//! introspection and refresh.

use super::{Fixture, OPERATOR, fixture, origin};
use crate::secret::Secret;
use crate::service::sessions::Door;
use crate::service::{Issued, ServiceError};

/// Asserts that neither token of `issued` works any more, by every path.
async fn assert_dead(f: &Fixture, issued: &Issued, what: &str) {
    let access = &issued.access_token;
    let refresh = issued.refresh_token.clone().unwrap();
    let e = f.service.authenticate(Some(access)).unwrap_err();
    assert!(
        matches!(e, ServiceError::InvalidToken { presented: true }),
        "{what}: {e:?}"
    );
    assert!(
        !f.service.introspect(access).unwrap().active,
        "{what}: access introspected active"
    );
    assert!(
        !f.service.introspect(refresh.expose()).unwrap().active,
        "{what}: refresh introspected active"
    );
    let e = f
        .service
        .rotate_refresh(Some(refresh), origin(), Door::App)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::InvalidToken { presented: true }),
        "{what}: refresh: {e:?}"
    );
}

/// Asserts that both tokens of `issued` still work (checked without using them up).
fn assert_live(f: &Fixture, issued: &Issued, what: &str) {
    f.service
        .authenticate(Some(&issued.access_token))
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let refresh = issued.refresh_token.as_ref().unwrap();
    assert!(f.service.introspect(refresh.expose()).unwrap().active, "{what}");
}

#[tokio::test]
async fn every_operator_revocation_ends_tokens_at_once() {
    let f = fixture().await;
    let cases: [(&str, &str); 5] = [
        ("disable", "user1"),
        ("delete", "user2"),
        ("set-password", "user3"),
        ("revoke-all", "user4"),
        ("revoke-session", "user5"),
    ];
    for (action, name) in cases {
        let issued = f.register(name).await;
        let bystander = f.register(&format!("{name}-other")).await;
        assert_live(&f, &issued, action);
        let s = &f.service;
        match action {
            "disable" => drop(s.set_disabled(OPERATOR, name, true).await.unwrap()),
            "delete" => s.delete_user(OPERATOR, name).await.unwrap(),
            "set-password" => drop(
                s.set_password(OPERATOR, name, Secret::new("a-new-password".into()))
                    .await
                    .unwrap(),
            ),
            "revoke-all" => drop(s.revoke_all_sessions(OPERATOR, name).await.unwrap()),
            _ => {
                let caller = s.authenticate(Some(&issued.access_token)).unwrap();
                let crate::service::Caller::Session { session_id, .. } = caller else {
                    panic!("a session token")
                };
                s.revoke_session_by_id(OPERATOR, &session_id.to_string()).await.unwrap();
            }
        }
        assert_dead(&f, &issued, action).await;
        assert_live(&f, &bystander, &format!("{action}: another user"));
    }
}

#[tokio::test]
async fn rfc7009_revocation_of_each_token_kind_takes_effect_at_once() {
    let f = fixture().await;
    // A refresh token ends its whole session.
    let a = f.register("alice").await;
    f.service
        .revoke_token(a.refresh_token.as_ref().unwrap().expose(), origin())
        .await
        .unwrap();
    assert_dead(&f, &a, "refresh token revoked").await;
    // An access token is denied by its jti; its session lives on.
    let b = f.register("bob").await;
    f.service.revoke_token(&b.access_token, origin()).await.unwrap();
    assert!(f.service.authenticate(Some(&b.access_token)).is_err());
    assert!(!f.service.introspect(&b.access_token).unwrap().active);
    assert!(
        f.service
            .introspect(b.refresh_token.as_ref().unwrap().expose())
            .unwrap()
            .active
    );
}

#[tokio::test]
async fn a_disabled_owner_suspends_api_tokens_and_a_deleted_one_ends_them() {
    let f = fixture().await;
    let alice = f.register("alice").await;
    let caller = f.service.authenticate(Some(&alice.access_token)).unwrap();
    let input = crate::service::api_tokens::NewApiToken {
        name: Some("ci".into()),
        scopes: None,
        expires_in: None,
    };
    let api = f.service.create_api_token(&caller, input).await.unwrap().token;
    f.service.set_disabled(OPERATOR, "alice", true).await.unwrap();
    assert!(f.service.authenticate(Some(&api)).is_err());
    assert!(!f.service.introspect(&api).unwrap().active, "suspended");
    f.service.set_disabled(OPERATOR, "alice", false).await.unwrap();
    f.service.authenticate(Some(&api)).unwrap();
    assert!(f.service.introspect(&api).unwrap().active, "back with its owner");
    f.service.delete_user(OPERATOR, "alice").await.unwrap();
    assert!(f.service.authenticate(Some(&api)).is_err());
    assert!(!f.service.introspect(&api).unwrap().active, "gone with its owner");
}
