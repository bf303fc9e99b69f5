//! The PostgreSQL store against a real database: a fresh one per test on the cluster
//! at `TESSERA_TEST_POSTGRES_URL` (`.ci/run` starts one). Without it the tests say
//! so and pass, except under `TESSERA_TEST_STRICT`.

use super::*;
use crate::records::*;
use crate::store::{Change, Rotation, SessionStart, Unique};
use std::sync::Arc;
use uuid::Uuid;

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A store on a new, empty database; `None` without a cluster.
async fn fresh() -> Option<PgStore> {
    let Ok(admin) = std::env::var("TESSERA_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("TESSERA_TEST_STRICT").is_none(),
            "TESSERA_TEST_POSTGRES_URL is required under TESSERA_TEST_STRICT"
        );
        eprintln!("skipped: needs a PostgreSQL cluster (TESSERA_TEST_POSTGRES_URL)");
        return None;
    };
    let name = format!(
        "unit_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    let url = PostgresUrl::parse(&format!("{base}/{name}?sslmode=disable")).unwrap();
    Some(PgStore::open(&url, 8, Duration::from_secs(5)).await.unwrap())
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        username: name.into(),
        email: format!("{name}@example.com"),
        display_name: name.into(),
        role: "user".into(),
        email_verified: false,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        disabled: false,
        created_at: 1_800_000_000,
    }
}

fn session(user: &UserRecord, now: i64, max_age: i64) -> SessionRecord {
    SessionRecord {
        id: Uuid::now_v7(),
        user_id: user.id,
        scopes: vec!["read".into()],
        created_at: now,
        expires_at: now + max_age,
        revoked_at: None,
        kind: SessionKind::App,
        client_id: None,
        browser_login: None,
    }
}

fn refresh(session: &SessionRecord, now: i64, ttl: i64) -> RefreshRecord {
    RefreshRecord {
        session_id: session.id,
        issued_at: now,
        expires_at: now + ttl,
        rotated_at: None,
        client_id: None,
    }
}

fn digest(n: u32) -> [u8; 32] {
    let mut d = [7u8; 32];
    d[..4].copy_from_slice(&n.to_be_bytes());
    d
}

const NOW: i64 = 1_800_000_000;

#[tokio::test]
async fn usernames_and_emails_are_unique_whatever_their_case() {
    let Some(store) = fresh().await else { return };
    store.create_user(&user("Alice")).await.unwrap();
    let mut same_name = user("aLICE");
    same_name.email = "other@example.com".into();
    assert!(matches!(
        store.create_user(&same_name).await,
        Err(StoreError::Taken(Unique::Username))
    ));
    let mut same_email = user("bob");
    same_email.email = "ALICE@example.COM".into();
    assert!(matches!(
        store.create_user(&same_email).await,
        Err(StoreError::Taken(Unique::Email))
    ));
    let found = store.user_by_login("alice@EXAMPLE.com").await.unwrap().unwrap();
    assert_eq!(found.username, "Alice", "kept as registered");
    assert_eq!(store.user_count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_presentations_of_one_refresh_token_rotate_it_once() {
    let Some(store) = fresh().await else { return };
    let store = Arc::new(store);
    let alice = user("alice");
    store.create_user(&alice).await.unwrap();
    for round in 0..10u32 {
        let s = session(&alice, NOW, 3600);
        let old = digest(round * 100);
        assert!(
            store
                .create_session(&alice, &s, SessionStart::Refresh(&old, &refresh(&s, NOW, 600)))
                .await
                .unwrap()
        );
        let tasks: Vec<_> = (1..=8)
            .map(|i| {
                let (store, next) = (Arc::clone(&store), refresh(&s, NOW + 1, 600));
                tokio::spawn(async move {
                    store
                        .rotate_refresh(&old, &digest(round * 100 + i), &next, NOW + 1)
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap().unwrap());
        }
        let rotated = outcomes.iter().filter(|o| **o == Rotation::Rotated).count();
        assert_eq!(rotated, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| *o == Rotation::Rotated || *o == Rotation::Reused { session_id: s.id }),
            "{outcomes:?}"
        );
    }
}

#[tokio::test]
async fn what_other_daemons_must_learn_is_logged_with_the_change() {
    let Some(store) = fresh().await else { return };
    store.raise_token_horizon(3600).await.unwrap();
    let bob = user("bob");
    store.create_user(&bob).await.unwrap();
    let s = session(&bob, NOW, 86_400);
    store
        .create_session(&bob, &s, SessionStart::Refresh(&digest(1), &refresh(&s, NOW, 600)))
        .await
        .unwrap();
    let revoked = store.revoke_session(s.id, NOW).await.unwrap().unwrap();
    assert_eq!(
        revoked.until,
        NOW + 3600,
        "kept for the horizon, not the session's whole life"
    );
    assert_eq!(store.revoke_session(s.id, NOW).await.unwrap(), None, "once");
    store
        .modify_user(bob.id, |u| !std::mem::replace(&mut u.disabled, true))
        .await
        .unwrap();
    store
        .modify_user(bob.id, |u| std::mem::replace(&mut u.disabled, false))
        .await
        .unwrap();
    store.deny("jti-1", NOW + 60).await.unwrap();
    store.put_setting("guest_enabled", "true").await.unwrap();
    let logged: Vec<Change> = store
        .recent_changes(&[])
        .await
        .unwrap()
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(
        logged,
        [
            Change::SessionRevoked(revoked),
            Change::UserBarred(crate::store::Barred {
                user_id: bob.id,
                until: crate::store::FOR_GOOD
            }),
            Change::UserAdmitted(bob.id),
            Change::Denied("jti-1".into(), NOW + 60),
            Change::Setting("guest_enabled".into()),
        ]
    );
    let (sessions, barred) = store.revocations(NOW).await.unwrap();
    assert_eq!((sessions, barred), (vec![revoked], vec![]));
    // Nothing changed: nothing logged.
    store.modify_user(bob.id, |_| false).await.unwrap();
    assert_eq!(store.recent_changes(&[]).await.unwrap().len(), 5);
}

#[tokio::test]
async fn the_purge_deletes_only_what_nothing_can_use() {
    let Some(store) = fresh().await else { return };
    let carol = user("carol");
    store.create_user(&carol).await.unwrap();
    let (old, live) = (session(&carol, NOW - 100, 50), session(&carol, NOW, 3600));
    store
        .create_session(
            &carol,
            &old,
            SessionStart::Refresh(&digest(1), &refresh(&old, NOW - 100, 50)),
        )
        .await
        .unwrap();
    let cut_short = refresh(&live, NOW - 100, 50);
    store
        .create_session(&carol, &live, SessionStart::Refresh(&digest(2), &cut_short))
        .await
        .unwrap();
    store.deny("gone", NOW - 1).await.unwrap();
    store.deny("kept", NOW + 60).await.unwrap();
    let purged = store.purge_expired(NOW).await.unwrap();
    assert_eq!(
        (purged.sessions, purged.refresh_tokens, purged.denied),
        (1, 2, 1),
        "{purged:?}"
    );
    assert_eq!(store.session(old.id).await.unwrap(), None);
    assert!(store.session(live.id).await.unwrap().is_some());
    assert_eq!(store.deny_list(NOW).await.unwrap(), [("kept".to_owned(), NOW + 60)]);
    assert_eq!(
        store.purge_expired(NOW).await.unwrap(),
        crate::store::Purged::default(),
        "idempotent"
    );
}

#[tokio::test]
async fn a_setting_made_once_is_the_same_for_every_daemon() {
    let Some(store) = fresh().await else { return };
    let (a, b) = tokio::join!(store.setting_or_init("key", "a"), store.setting_or_init("key", "b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "both get the value stored first");
    assert_eq!(store.setting("key").await.unwrap(), Some(a));
}

#[tokio::test]
async fn users_come_a_page_at_a_time_in_name_order_and_search_by_prefix() {
    let Some(store) = fresh().await else { return };
    for (name, email) in [
        ("carol", "c@example.com"),
        ("Albert", "bert@example.com"),
        ("alice", "a@example.com"),
        ("zed", "Al.zed@example.com"),
        ("bob", "b@example.com"),
    ] {
        store
            .create_user(&UserRecord {
                email: email.into(),
                ..user(name)
            })
            .await
            .unwrap();
    }
    let names = |page: Vec<UserRecord>| page.into_iter().map(|u| u.username).collect::<Vec<_>>();
    let mut walked = names(store.users_page(None, None, 2).await.unwrap());
    assert_eq!(walked, ["Albert", "alice"]);
    let bob = store.user_by_login("bob").await.unwrap().unwrap();
    store.delete_user(&bob, NOW).await.unwrap();
    walked.extend(names(store.users_page(Some("alice"), None, 2).await.unwrap()));
    walked.extend(names(store.users_page(Some("zed"), None, 2).await.unwrap()));
    assert_eq!(walked, ["Albert", "alice", "carol", "zed"]);
    assert_eq!(
        names(store.users_page(Some("BOB"), None, 9).await.unwrap()),
        ["carol", "zed"]
    );
    assert_eq!(
        names(store.users_page(None, Some("al"), 9).await.unwrap()),
        ["Albert", "alice", "zed"]
    );
    assert_eq!(
        names(store.users_page(Some("alice"), Some("al"), 2).await.unwrap()),
        ["zed"]
    );
    assert!(store.users_page(None, Some("x"), 9).await.unwrap().is_empty());
}

#[tokio::test]
async fn live_sessions_come_a_page_at_a_time_in_id_order_of_everyone_or_some() {
    let Some(store) = fresh().await else { return };
    let (amy, bob) = (user("amy"), user("bob"));
    store.create_user(&amy).await.unwrap();
    store.create_user(&bob).await.unwrap();
    let mut ids = Vec::new();
    for (i, owner) in [&amy, &bob, &amy, &bob, &amy].into_iter().enumerate() {
        let s = session(owner, NOW, 3600);
        let start = SessionStart::Refresh(&digest(u32::try_from(i).unwrap() + 10), &refresh(&s, NOW, 600));
        store.create_session(owner, &s, start).await.unwrap();
        ids.push(s.id);
    }
    ids.sort();
    store.revoke_session(ids[1], NOW).await.unwrap();
    let live: Vec<Uuid> = ids.iter().copied().filter(|id| *id != ids[1]).collect();
    let ids_of = |page: Vec<SessionRecord>| page.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let mut walked = ids_of(store.sessions_page(None, None, NOW, 2).await.unwrap());
    walked.extend(ids_of(
        store.sessions_page(walked.last().copied(), None, NOW, 2).await.unwrap(),
    ));
    walked.extend(ids_of(
        store.sessions_page(walked.last().copied(), None, NOW, 2).await.unwrap(),
    ));
    assert_eq!(walked, live);
    let amys = ids_of(store.sessions_page(None, Some(&[amy.id]), NOW, 9).await.unwrap());
    assert_eq!(amys.len(), 3);
    assert!(amys.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.user_ids_by_name_prefix("b").await.unwrap(), [bob.id]);
}
