//! Revocation (docs/decisions.md): revoking a session, disabling or deleting a user, setting a password,
//! or revoking a token takes effect at once for `authenticate` (what `/me` uses),
//! introspection and refresh, and still holds after a restart. Start-up loads only the
//! revocations an unexpired token can meet; tokens older than an upgrade from a store
//! without that index are checked against the store.

use super::{Fixture, OPERATOR, fixture, fixture_with, origin};
use crate::clock::Clock;
use crate::secret::Secret;
use crate::service::sessions::RefreshBy;
use crate::service::{Issued, ServiceError};

/// Asserts that neither token of `issued` works any more, by every path.
async fn assert_dead(f: &Fixture, issued: &Issued, what: &str) {
    let access = &issued.access_token;
    let refresh = issued.refresh_token.clone().unwrap();
    let e = f.service.authenticate(Some(access)).await.unwrap_err();
    assert!(
        matches!(e, ServiceError::InvalidToken { presented: true }),
        "{what}: {e:?}"
    );
    assert!(
        !f.service.introspect(access).await.unwrap().active,
        "{what}: access introspected active"
    );
    assert!(
        !f.service.introspect(refresh.expose()).await.unwrap().active,
        "{what}: refresh introspected active"
    );
    let e = f
        .service
        .rotate_refresh(Some(refresh), origin(), RefreshBy::App)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::InvalidToken { presented: true }),
        "{what}: refresh: {e:?}"
    );
}

/// Asserts that both tokens of `issued` still work (checked without using them up).
async fn assert_live(f: &Fixture, issued: &Issued, what: &str) {
    f.service
        .authenticate(Some(&issued.access_token))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let refresh = issued.refresh_token.as_ref().unwrap();
    assert!(f.service.introspect(refresh.expose()).await.unwrap().active, "{what}");
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
    assert!(f.service.authenticate(Some(&b.access_token)).await.is_err());
    assert!(!f.service.introspect(&b.access_token).await.unwrap().active);
    assert!(
        f.service
            .introspect(b.refresh_token.as_ref().unwrap().expose())
            .await
            .unwrap()
            .active
    );
}

#[tokio::test]
async fn a_disabled_owner_suspends_api_tokens_and_a_deleted_one_ends_them() {
    let f = fixture().await;
    let alice = f.register("alice").await;
    let caller = f.service.authenticate(Some(&alice.access_token)).await.unwrap();
    let input = crate::service::api_tokens::NewApiToken {
        name: Some("ci".into()),
        scopes: None,
        expires_in: None,
    };
    let api = f.service.create_api_token(&caller, input).await.unwrap().token;
    f.service.set_disabled(OPERATOR, "alice", true).await.unwrap();
    assert!(f.service.authenticate(Some(&api)).await.is_err());
    assert!(!f.service.introspect(&api).await.unwrap().active, "suspended");
    f.service.set_disabled(OPERATOR, "alice", false).await.unwrap();
    f.service.authenticate(Some(&api)).await.unwrap();
    assert!(f.service.introspect(&api).await.unwrap().active, "back with its owner");
    f.service.delete_user(OPERATOR, "alice").await.unwrap();
    assert!(f.service.authenticate(Some(&api)).await.is_err());
    assert!(!f.service.introspect(&api).await.unwrap().active, "gone with its owner");
}

/// Ends `name`'s session (whose tokens are `issued`) the way `action` names; returns
/// the tokens that must now fail.
async fn end(f: &Fixture, action: &str, name: &str, issued: Issued) -> Issued {
    let s = &f.service;
    let caller = async || s.authenticate(Some(&issued.access_token)).await.unwrap();
    match action {
        "logout" => s.logout(caller().await, origin()).await.unwrap(),
        "revoke-session" => {
            let crate::service::Caller::Session { session_id, .. } = caller().await else {
                panic!("a session token")
            };
            s.revoke_session_by_id(OPERATOR, &session_id.to_string()).await.unwrap();
        }
        "revoke-all" => drop(s.revoke_all_sessions(OPERATOR, name).await.unwrap()),
        "disable" => drop(s.set_disabled(OPERATOR, name, true).await.unwrap()),
        "delete" => s.delete_user(OPERATOR, name).await.unwrap(),
        "set-password" => drop(
            s.set_password(OPERATOR, name, Secret::new("a-new-password".into()))
                .await
                .unwrap(),
        ),
        "reuse" => {
            // The rotated pair is what a thief would hold; replaying the old token ends it.
            let old = issued.refresh_token.clone().unwrap();
            let next = s
                .rotate_refresh(Some(old.clone()), origin(), RefreshBy::App)
                .await
                .unwrap();
            assert!(s.rotate_refresh(Some(old), origin(), RefreshBy::App).await.is_err());
            return next;
        }
        other => panic!("unknown action {other}"),
    }
    issued
}

const ACTIONS: [&str; 7] = [
    "logout",
    "revoke-session",
    "revoke-all",
    "disable",
    "delete",
    "set-password",
    "reuse",
];

#[tokio::test]
async fn every_revocation_holds_on_the_next_request_and_across_a_restart() {
    let mut f = fixture().await;
    let mut ended = Vec::new();
    let bystander = f.register("bystander").await;
    for action in ACTIONS {
        let name = format!("{action}-user");
        let issued = f.register(&name).await;
        assert_live(&f, &issued, action).await;
        let dead = end(&f, action, &name, issued).await;
        assert_dead(&f, &dead, action).await;
        assert_live(&f, &bystander, &format!("{action}: another user")).await;
        ended.push((action, dead));
    }
    f.clock.advance(std::time::Duration::from_secs(60));
    f = f.restart().await;
    for (action, dead) in &ended {
        assert_dead(&f, dead, &format!("{action}, after a restart")).await;
    }
    assert_live(&f, &bystander, "a bystander, after a restart").await;
}

#[tokio::test]
async fn start_up_loads_only_revocations_that_can_still_concern_a_token() {
    let f = fixture_with("[tokens]\naccess_ttl = \"10m\"\nsession_max_age = \"1h\"\n").await;
    for name in ["old-logout", "old-delete", "disabled", "open", "new-logout"] {
        f.register(name).await;
    }
    let old = f.login("old-logout", &super::password("old-logout")).await.unwrap();
    end(&f, "logout", "old-logout", old).await;
    f.service.delete_user(OPERATOR, "old-delete").await.unwrap();
    f.service.set_disabled(OPERATOR, "disabled", true).await.unwrap();
    f.clock.advance(std::time::Duration::from_secs(11 * 60));
    let new = f.login("new-logout", &super::password("new-logout")).await.unwrap();
    let new = end(&f, "logout", "new-logout", new).await;
    let f = f.restart().await;
    // Revoked sessions: the new logout only (the old one's tokens have all expired,
    // and the disabled user's were revoked as old); barred: the disabled user only.
    assert_eq!(f.service.revocations.held(), (1, 1, 0));
    assert_dead(&f, &new, "the new logout").await;
    // Open sessions are not loaded at all; the store counts them: the registration
    // sessions of "open" and of both users who logged out of a second one.
    assert_eq!(f.service.activity().await.sessions, 3);
}

#[tokio::test]
async fn tokens_older_than_an_upgrade_from_version_1_are_checked_against_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = crate::store::v1_records();
    crate::store::write_v1(dir.path(), &v1, &[]);
    let store = crate::store::Store::open_embedded(dir.path(), crate::store::CACHE_BYTES).unwrap();
    // Tokens signed a little before the upgrade, as the version 1 daemon did.
    let clock = crate::clock::ManualClock::new(time::OffsetDateTime::now_utc() - time::Duration::seconds(5));
    let overrides = crate::config::Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
    };
    let config = std::sync::Arc::new(crate::config::Config::from_toml("", &overrides).unwrap());
    let s = crate::service::Service::open(config, store, clock.clone(), "http://tessera.test".into())
        .await
        .unwrap();
    let token = |session: uuid::Uuid, user: &crate::store::UserRecord| {
        let grant = crate::tokens::Grant {
            sub: user.id.to_string(),
            scopes: vec!["read".into()],
            role: Some(user.role.clone()),
            sid: Some(session.to_string()),
            username: Some(user.username.clone()),
            client_id: None,
        };
        let now = clock.now();
        s.issue(grant, now, now + time::Duration::minutes(5), None)
            .unwrap()
            .access_token
    };
    s.authenticate(Some(&token(v1.open.id, &v1.alice))).await.unwrap();
    let revoked_before = token(v1.revoked.id, &v1.alice);
    assert!(
        s.authenticate(Some(&revoked_before)).await.is_err(),
        "revoked by version 1"
    );
    let of_a_deleted_user = token(uuid::Uuid::now_v7(), &v1.bob);
    assert!(s.authenticate(Some(&of_a_deleted_user)).await.is_err(), "session gone");
}
