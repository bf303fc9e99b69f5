//! SledStore behaviour on a real sled database in a temp dir.

use super::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn user(name: &str, email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        username: name.into(),
        email: email.into(),
        display_name: name.into(),
        role: "user".into(),
        email_verified: false,
        password_hash: "$argon2id$...".into(),
        disabled: false,
        created_at: 1,
    }
}

fn session(user_id: Uuid) -> SessionRecord {
    SessionRecord {
        id: Uuid::new_v4(),
        user_id,
        scopes: vec!["read".into()],
        created_at: 10,
        expires_at: 1000,
        revoked_at: None,
        kind: SessionKind::App,
        client_id: None,
        browser_login: None,
    }
}

/// A fresh store holding `alice` with one session, whose first refresh token has the
/// digest `[1; 32]`; the temp dir must outlive the store.
fn with_a_session() -> (tempfile::TempDir, SledStore, UserRecord, SessionRecord) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    let s = session(alice.id);
    assert!(
        store
            .create_session(&alice, &s, SessionStart::Refresh(&[1u8; 32], &refresh(s.id)))
            .unwrap()
    );
    (dir, store, alice, s)
}

fn refresh(session_id: Uuid) -> RefreshRecord {
    RefreshRecord {
        session_id,
        issued_at: 10,
        expires_at: 100,
        rotated_at: None,
        client_id: None,
    }
}

#[test]
fn unique_indexes_are_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("Alice", "Alice@Example.com");
    store.create_user(&alice).unwrap();
    assert!(matches!(
        store.create_user(&user("aLICE", "other@example.com")),
        Err(StoreError::Taken(Unique::Username))
    ));
    assert!(matches!(
        store.create_user(&user("bob", "alice@EXAMPLE.com")),
        Err(StoreError::Taken(Unique::Email))
    ));
    assert_eq!(store.user_by_login("ALICE").unwrap().unwrap().username, "Alice");
    assert_eq!(store.user_by_login("alice@example.COM").unwrap().unwrap().id, alice.id);
    assert!(store.user_by_login("bob").unwrap().is_none());
}

#[test]
fn rotation_detects_reuse_and_revocation() {
    let (_dir, store, _alice, s) = with_a_session();
    let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    assert_eq!(
        store.rotate_refresh(&a, &b, &refresh(s.id), 20).unwrap(),
        Rotation::Rotated
    );
    assert_eq!(store.refresh_token(&a).unwrap().unwrap().rotated_at, Some(20));
    assert_eq!(
        store.rotate_refresh(&a, &c, &refresh(s.id), 21).unwrap(),
        Rotation::Reused { session_id: s.id }
    );
    assert!(store.refresh_token(&c).unwrap().is_none(), "a replay writes nothing");
    assert_eq!(
        store.rotate_refresh(&[9u8; 32], &c, &refresh(s.id), 21).unwrap(),
        Rotation::Invalid
    );
    assert!(store.revoke_session(s.id, 30).unwrap().is_some());
    assert!(store.revoke_session(s.id, 31).unwrap().is_none(), "once");
    assert_eq!(
        store.rotate_refresh(&b, &c, &refresh(s.id), 32).unwrap(),
        Rotation::Invalid
    );
    assert!(store.live_sessions(40).unwrap().is_empty());
}

#[tokio::test]
async fn committed_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("alice", "a@example.com");
    let s = session(alice.id);
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.create_user(&alice).unwrap();
        assert!(
            store
                .create_session(&alice, &s, SessionStart::Refresh(&[1u8; 32], &refresh(s.id)))
                .unwrap()
        );
        store.commit().await.unwrap();
        assert!(store.is_healthy());
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.user(alice.id).unwrap().unwrap(), alice);
    assert_eq!(store.live_sessions(50).unwrap(), vec![s]);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("store")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StoreError::SchemaTooNew { .. })
    ));
}

#[test]
fn audit_trail_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for i in 0..AUDIT_CAPACITY + 5 {
        let record = AuditRecord {
            at: i as i64,
            event: "login.failure".into(),
            subject: None,
            origin: None,
            detail: None,
            request_id: None,
        };
        store.append_audit(&record).unwrap();
    }
    assert_eq!(store.audit.len() as u64, AUDIT_CAPACITY);
    let tail = store.audit_tail(2).unwrap();
    assert_eq!(
        tail.iter().map(|(seq, r)| (*seq, r.at)).collect::<Vec<_>>(),
        [
            (AUDIT_CAPACITY + 3, AUDIT_CAPACITY as i64 + 3),
            (AUDIT_CAPACITY + 4, AUDIT_CAPACITY as i64 + 4)
        ]
    );
}

#[test]
fn a_snapshot_left_unfinished_by_a_killed_process_does_not_brick_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("alice", "alice@example.com");
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.create_user(&alice).unwrap();
        store.db.flush().unwrap();
    }
    // What a process killed while sled wrote its snapshot at open leaves: a
    // `.generating` file still empty, newer than every finished snapshot.
    let db_dir = dir.path().join("store");
    let unfinished = db_dir.join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&unfinished, b"").unwrap();
    let store = SledStore::open(dir.path()).expect("the store opens");
    assert_eq!(store.user(alice.id).unwrap(), Some(alice));
    assert!(!unfinished.exists(), "the unfinished snapshot is gone");
}

#[test]
fn data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let store = SledStore::open(&data).unwrap();
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    drop(store);
    // A directory made by someone else with a looser mode is tightened at start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _store = SledStore::open(&data).unwrap();
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SledStore::open(dir.path()).unwrap());
    let waiters: Vec<_> = (0..200u64)
        .map(|i| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                let record = AuditRecord {
                    at: i as i64,
                    event: "test".into(),
                    subject: None,
                    origin: None,
                    detail: None,
                    request_id: None,
                };
                store.append_audit(&record).unwrap();
                store.commit().await.unwrap();
            })
        })
        .collect();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    let syncs = store.syncs();
    assert!((1..200).contains(&syncs), "200 commits took {syncs} syncs");
    assert_eq!(store.audit_tail(1000).unwrap().len(), 200);
}

#[test]
fn delete_user_removes_indexes_and_sessions() {
    let (_dir, store, alice, s) = with_a_session();
    assert_eq!(store.sessions_of(alice.id).unwrap(), vec![s.clone()]);
    assert_eq!(store.last_login(alice.id).unwrap(), Some(s.created_at));
    store.delete_user(&alice, 0).unwrap();
    assert!(store.user(alice.id).unwrap().is_none());
    assert_eq!(store.last_login(alice.id).unwrap(), None);
    assert!(store.session(s.id).unwrap().is_none());
    assert!(store.sessions_of(alice.id).unwrap().is_empty());
    store.create_user(&user("ALICE", "A@example.com")).unwrap();
}

#[test]
fn settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.setting("guest").unwrap(), None);
    store.put_setting("guest", "on").unwrap();
    assert_eq!(store.setting("guest").unwrap().as_deref(), Some("on"));
    assert_eq!(store.setting_or_init("key", "first").unwrap(), "first");
    assert_eq!(
        store.setting_or_init("key", "second").unwrap(),
        "first",
        "the first stays"
    );
}

#[test]
fn clients_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let client = ClientRecord {
        client_id: "app".into(),
        secret_digest: "ab".into(),
        scopes: vec![],
        created_at: 1,
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: true,
        retiring_secret: None,
        id_token_alg: Default::default(),
    };
    store.create_client(&client).unwrap();
    assert!(matches!(
        store.create_client(&client),
        Err(StoreError::Taken(Unique::ClientId))
    ));
    assert_eq!(store.client("app").unwrap(), Some(client.clone()));
    assert_eq!(store.client_count().unwrap(), 1);
    // A new secret, the old one kept until 100; then another, the old one dropped.
    assert!(store.replace_client_secret("app", "cd", Some(100)).unwrap());
    let rotated = store.client("app").unwrap().unwrap();
    assert_eq!(rotated.secret_digest, "cd");
    assert_eq!(
        rotated.retiring_secret,
        Some(RetiringSecret {
            digest: "ab".into(),
            until: 100
        })
    );
    assert!(store.replace_client_secret("app", "ef", None).unwrap());
    let rotated = store.client("app").unwrap().unwrap();
    assert_eq!((rotated.secret_digest.as_str(), rotated.retiring_secret), ("ef", None));
    assert!(!store.replace_client_secret("nobody", "ef", None).unwrap());
    assert_eq!(store.client_removed_at("app").unwrap(), None);
    assert!(store.remove_client("app", 5).unwrap());
    assert!(!store.remove_client("app", 6).unwrap());
    assert_eq!(
        store.client_removed_at("app").unwrap(),
        Some(5),
        "the removal is remembered"
    );
}

#[test]
fn api_tokens_are_indexed_touched_and_deleted_with_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    let token = ApiTokenRecord {
        id: "t1".into(),
        user_id: alice.id,
        name: "ci".into(),
        scopes: vec!["read".into()],
        created_at: 1,
        expires_at: None,
        last_used_at: None,
    };
    store.create_api_token(&token, &[7u8; 32]).unwrap();
    assert_eq!(store.api_token(&[7u8; 32]).unwrap(), Some(token.clone()));
    assert_eq!(store.api_tokens_of(alice.id).unwrap(), vec![token.clone()]);
    store
        .touch_api_tokens(&[("t1".into(), 50), ("gone".into(), 60)])
        .unwrap();
    assert_eq!(store.api_token_by_id("t1").unwrap().unwrap().last_used_at, Some(50));
    store.delete_user(&alice, 0).unwrap();
    assert!(store.api_token(&[7u8; 32]).unwrap().is_none());
    assert_eq!(store.api_token_count().unwrap(), 0);
    let other = ApiTokenRecord {
        id: "t2".into(),
        ..token
    };
    store.create_api_token(&other, &[8u8; 32]).unwrap();
    assert_eq!(store.delete_api_token("t2").unwrap().map(|t| t.id), Some("t2".into()));
    assert!(store.delete_api_token("t2").unwrap().is_none());
}

#[test]
fn api_tokens_are_counted_without_a_scan_and_older_stores_are_counted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    let token = |id: &str| ApiTokenRecord {
        id: id.into(),
        user_id: alice.id,
        name: id.into(),
        scopes: Vec::new(),
        created_at: 1,
        expires_at: None,
        last_used_at: None,
    };
    for (i, id) in ["t1", "t2", "t3"].into_iter().enumerate() {
        store.create_api_token(&token(id), &[i as u8; 32]).unwrap();
    }
    assert_eq!(store.api_token_count().unwrap(), 3);
    store.delete_api_token("t1").unwrap();
    store.delete_api_token("t1").unwrap();
    assert_eq!(store.api_token_count().unwrap(), 2, "a second delete counts nothing");
    // A store written before the counter existed: counted once, at open.
    store.meta.remove(Counter::ApiTokens.key()).unwrap();
    store.meta.flush().unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.api_token_count().unwrap(), 2);
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
    store.delete_user(&alice, 0).unwrap();
    assert_eq!(store.api_token_count().unwrap(), 0, "deleted with their user");
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
}

#[test]
fn the_deny_list_lists_live_entries_and_the_purge_forgets_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.deny("a", 100).unwrap();
    store.deny("b", 200).unwrap();
    assert_eq!(store.deny_list(150).unwrap(), vec![("b".to_owned(), 200)]);
    assert_eq!(store.deny_list(0).unwrap().len(), 2, "listing deletes nothing");
    assert_eq!(store.purge_expired(150, &mut || {}).unwrap().denied, 1);
    assert_eq!(store.deny_list(0).unwrap(), vec![("b".to_owned(), 200)], "a was purged");
}

#[test]
fn the_purge_walks_in_batches_rests_between_them_and_sees_writes_made_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    // Sessions with ids 1..=n in key order, every other one past its end at 500,
    // each with a refresh token expiring with it.
    let n = 2 * PURGE_BATCH + 10;
    let open = |id: u128, ends: i64| {
        let s = SessionRecord {
            id: Uuid::from_u128(id),
            expires_at: ends,
            ..session(alice.id)
        };
        let token = RefreshRecord {
            expires_at: ends,
            ..refresh(s.id)
        };
        let digest: [u8; 32] = Sha256::digest(id.to_be_bytes()).into();
        assert!(
            store
                .create_session(&alice, &s, SessionStart::Refresh(&digest, &token))
                .unwrap()
        );
    };
    for id in 1..=n as u128 {
        open(id, if id % 2 == 0 { 1000 } else { 100 });
    }
    let mut rests = 0;
    let purged = store
        .purge_expired(500, &mut || {
            rests += 1;
            if rests == 3 {
                // Written during the first rest of the sessions' walk (the refresh
                // tokens' came first): one ahead of the walk (purged now) and one
                // behind it (next time), with tokens the walk has passed.
                open(u128::MAX, 100);
                open(0, 100);
            }
        })
        .unwrap();
    // Two full batches of refresh tokens and two of sessions, a rest after each; the
    // API tokens need none.
    assert_eq!(rests, 4);
    assert_eq!(purged.refresh_tokens, n / 2);
    assert_eq!(purged.sessions, n / 2 + 1, "and the one ahead, not the one behind");
    assert!(store.session(Uuid::from_u128(u128::MAX)).unwrap().is_none());
    assert!(store.session(Uuid::from_u128(0)).unwrap().is_some());
    assert_eq!(store.session_count().unwrap(), (n / 2 + 1) as u64);
    assert_eq!(store.check_integrity().unwrap(), Vec::<String>::new());
    let again = store.purge_expired(500, &mut || {}).unwrap();
    assert_eq!((again.sessions, again.refresh_tokens), (1, 2), "the rest, next time");
}

#[test]
fn a_store_held_by_a_live_handle_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _held = SledStore::open(dir.path()).unwrap();
    match SledStore::open(dir.path()) {
        Err(e @ StoreError::Locked { .. }) => assert!(e.to_string().contains("locked by another process"), "{e}"),
        other => panic!("expected a lock error, got {other:?}"),
    }
}

#[test]
fn expired_refresh_tokens_and_sessions_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    let s = session(alice.id); // ends at 1000
    let first = RefreshRecord {
        expires_at: 50,
        ..refresh(s.id)
    };
    assert!(
        store
            .create_session(&alice, &s, SessionStart::Refresh(&[1u8; 32], &first))
            .unwrap()
    );
    let purged = |sessions, refresh_tokens, api_tokens| Purged {
        sessions,
        refresh_tokens,
        api_tokens,
        denied: 0,
        revocations: 0,
        links: 0,
        codes: 0,
        browser_cookies: 0,
        mfa_tokens: 0,
    };
    assert_eq!(store.purge_expired(49, &mut || {}).unwrap(), purged(0, 0, 0));
    assert_eq!(store.purge_expired(60, &mut || {}).unwrap(), purged(0, 1, 0));
    assert!(store.refresh_token(&[1u8; 32]).unwrap().is_none());
    assert!(store.session(s.id).unwrap().is_some());
    assert_eq!(store.purge_expired(1000, &mut || {}).unwrap(), purged(1, 0, 0));
    assert!(store.session(s.id).unwrap().is_none());
    assert!(
        store.sessions_of(alice.id).unwrap().is_empty(),
        "the index entry went too"
    );

    // API tokens: kept while valid or recently expired, deleted a month after expiry.
    let token = |id: &str, expires_at| ApiTokenRecord {
        id: id.into(),
        user_id: alice.id,
        name: id.into(),
        scopes: vec!["read".into()],
        created_at: 1,
        expires_at,
        last_used_at: None,
    };
    store.create_api_token(&token("forever", None), &[5u8; 32]).unwrap();
    store.create_api_token(&token("old", Some(2000)), &[6u8; 32]).unwrap();
    let month = EXPIRED_API_TOKEN_KEPT;
    assert_eq!(
        store.purge_expired(2000 + month - 1, &mut || {}).unwrap(),
        purged(0, 0, 0)
    );
    assert_eq!(store.purge_expired(2000 + month, &mut || {}).unwrap(), purged(0, 0, 1));
    let left: Vec<String> = store
        .api_tokens_of(alice.id)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, ["forever"]);
}

#[test]
fn a_session_is_opened_only_against_the_user_as_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    // The role changed while the caller was hashing.
    let demoted = store
        .modify_user(alice.id, |u| {
            u.role = "guest".into();
            true
        })
        .unwrap()
        .unwrap();
    let s = session(alice.id);
    assert!(
        !store
            .create_session(&alice, &s, SessionStart::Refresh(&[1u8; 32], &refresh(s.id)))
            .unwrap()
    );
    assert!(store.session(s.id).unwrap().is_none(), "nothing stored");
    assert!(
        store
            .create_session(&demoted, &s, SessionStart::Refresh(&[1u8; 32], &refresh(s.id)))
            .unwrap()
    );
    // Deleted: refused, and a delete sweeps sessions added after its listing.
    store.delete_user(&demoted, 0).unwrap();
    let late = session(alice.id);
    assert!(
        !store
            .create_session(&demoted, &late, SessionStart::Refresh(&[2u8; 32], &refresh(late.id)))
            .unwrap()
    );
    assert!(store.sessions_of(alice.id).unwrap().is_empty());
}

#[tokio::test]
async fn an_existing_store_without_a_readable_schema_record_is_refused_not_emptied() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.create_user(&user("alice", "a@example.com")).unwrap();
        store.db.open_tree("meta").unwrap().remove("schema_version").unwrap();
        store.commit().await.unwrap();
    }
    let refused = SledStore::open(dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("damaged") && refused.contains("no schema record"),
        "{refused}"
    );
    {
        // Still there for whoever restores it: put a malformed record in and look again
        // (once sled, on background threads, has let go of its lock).
        let db = super::open_sled(&dir.path().join("store"), super::CACHE_BYTES).unwrap();
        assert_eq!(db.open_tree("users").unwrap().len(), 1, "nothing was overwritten");
        db.open_tree("meta").unwrap().insert("schema_version", &[1u8]).unwrap();
        db.flush().unwrap();
    }
    let refused = SledStore::open(dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("unreadable schema record"), "{refused}");
}

#[tokio::test]
async fn revoked_sessions_are_kept_until_no_access_token_can_concern_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.raise_token_horizon(100).unwrap(), 100);
    assert_eq!(store.raise_token_horizon(50).unwrap(), 100, "never lowered");
    let alice = user("alice", "a@example.com");
    store.create_user(&alice).unwrap();
    let long = session(alice.id); // ends at 1000
    let short = SessionRecord {
        expires_at: 100,
        ..session(alice.id)
    };
    for (s, digest) in [(&long, [1u8; 32]), (&short, [2u8; 32])] {
        assert!(
            store
                .create_session(&alice, s, SessionStart::Refresh(&digest, &refresh(s.id)))
                .unwrap()
        );
    }
    let mut open = store.open_sessions_of(alice.id, 0).unwrap();
    open.sort();
    let mut both = vec![long.id, short.id];
    both.sort();
    assert_eq!(open, both);
    assert_eq!(store.open_sessions_of(alice.id, 100).unwrap(), vec![long.id], "ended");
    let revoked = store.revoke_session(long.id, 30).unwrap().unwrap();
    assert_eq!(revoked.until, 130, "revocation + horizon");
    assert_eq!(
        store.revoke_session(short.id, 30).unwrap().unwrap().until,
        100,
        "the session's end"
    );
    assert!(store.open_sessions_of(alice.id, 0).unwrap().is_empty());
    let ids = |now| -> Vec<Uuid> { store.revocations(now).unwrap().0.iter().map(|r| r.session_id).collect() };
    assert_eq!(ids(99).len(), 2);
    assert_eq!(ids(100), vec![long.id]);
    assert!(ids(130).is_empty());
    assert_eq!(store.purge_expired(100, &mut || {}).unwrap().revocations, 1);
    assert_eq!(ids(0), vec![long.id], "the purge deleted only what ended");
    store.commit().await.unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.raise_token_horizon(10).unwrap(), 100, "kept across a restart");
    assert_eq!(store.revocations(0).unwrap().0, vec![revoked]);
}

#[test]
fn disabled_and_deleted_users_are_barred() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.raise_token_horizon(100).unwrap();
    let (alice, bob) = (user("alice", "a@example.com"), user("bob", "b@example.com"));
    store.create_user(&alice).unwrap();
    store.create_user(&bob).unwrap();
    let barred = |now| store.revocations(now).unwrap().1;
    store
        .modify_user(alice.id, |u| {
            u.disabled = true;
            true
        })
        .unwrap();
    assert_eq!(
        barred(0),
        vec![Barred {
            user_id: alice.id,
            until: FOR_GOOD
        }]
    );
    store
        .modify_user(alice.id, |u| {
            u.disabled = false;
            true
        })
        .unwrap();
    assert!(barred(0).is_empty(), "enabled again");
    let tombstone = store.delete_user(&bob, 50).unwrap();
    assert_eq!(tombstone.until, 150, "deletion + horizon");
    assert_eq!(barred(149), vec![tombstone]);
    assert!(barred(150).is_empty());
    assert_eq!(store.purge_expired(150, &mut || {}).unwrap().revocations, 1);
    assert!(barred(0).is_empty(), "purged");
}

#[tokio::test]
async fn users_and_open_sessions_are_counted_without_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let (alice, bob) = (user("alice", "a@example.com"), user("bob", "b@example.com"));
    store.create_user(&alice).unwrap();
    store.create_user(&bob).unwrap();
    assert!(store.create_user(&user("ALICE", "x@example.com")).is_err());
    let sessions: Vec<SessionRecord> = (0..3).map(|_| session(alice.id)).collect();
    for (i, s) in sessions.iter().enumerate() {
        assert!(
            store
                .create_session(&alice, s, SessionStart::Refresh(&[i as u8; 32], &refresh(s.id)))
                .unwrap()
        );
    }
    let b = session(bob.id);
    assert!(
        store
            .create_session(&bob, &b, SessionStart::Refresh(&[9u8; 32], &refresh(b.id)))
            .unwrap()
    );
    assert_eq!((store.user_count().unwrap(), store.session_count().unwrap()), (2, 4));
    assert_eq!(store.refresh_token_count().unwrap(), 4);
    let next = RefreshRecord {
        expires_at: 200,
        ..refresh(b.id)
    };
    assert_eq!(
        store.rotate_refresh(&[9u8; 32], &[10u8; 32], &next, 15).unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store.refresh_token_count().unwrap(),
        5,
        "the rotated one stays until it expires"
    );
    store.revoke_session(sessions[0].id, 20).unwrap();
    store.revoke_session(sessions[0].id, 21).unwrap();
    assert_eq!(store.session_count().unwrap(), 3, "a revocation counts once");
    store.delete_user(&alice, 30).unwrap();
    assert_eq!((store.user_count().unwrap(), store.session_count().unwrap()), (1, 1));
    store.commit().await.unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!((store.user_count().unwrap(), store.session_count().unwrap()), (1, 1));
    store.purge_expired(1000, &mut || {}).unwrap();
    assert_eq!(store.session_count().unwrap(), 0, "purged at its end");
    assert_eq!(store.refresh_token_count().unwrap(), 0, "every refresh token expired");
}

#[test]
fn the_audit_trail_is_purged_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for at in [10, 20, 30, 40] {
        let record = AuditRecord {
            at,
            event: "login.success".into(),
            subject: None,
            origin: None,
            detail: None,
            request_id: None,
        };
        store.append_audit(&record).unwrap();
    }
    assert_eq!(store.purge_audit(30).unwrap(), 2);
    let left: Vec<i64> = store.audit_tail(10).unwrap().into_iter().map(|(_, r)| r.at).collect();
    assert_eq!(left, [30, 40]);
    assert_eq!(store.audit_count().unwrap(), 2);
}

#[tokio::test]
async fn a_backup_restores_every_tree_exactly() {
    let (_dir, store, _alice, s) = with_a_session();
    store.raise_token_horizon(100).unwrap();
    store.revoke_session(s.id, 20).unwrap();
    store.deny("jti-1", 500).unwrap();
    let mut file = Vec::new();
    let written = store.write_backup(&mut file).unwrap();
    let read = BackupSummary {
        entries: written.entries,
        schema: written.schema,
        format: written.format,
        ..BackupSummary::default()
    };
    assert_eq!(SledStore::check_backup(file.as_slice()).unwrap(), read);
    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("data");
    assert_eq!(SledStore::restore_backup(&restored_dir, file.as_slice()).unwrap(), read);
    let restored = SledStore::open(&restored_dir).unwrap();
    for name in store.db.tree_names() {
        let (a, b) = (
            store.db.open_tree(&name).unwrap(),
            restored.db.open_tree(&name).unwrap(),
        );
        let all = |t: &sled::Tree| t.iter().collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(all(&a), all(&b), "tree {}", String::from_utf8_lossy(&name));
    }
    assert_eq!(restored.session_count().unwrap(), 0);
    assert_eq!(restored.revocations(0).unwrap().0.len(), 1);
    assert!(
        SledStore::restore_backup(&restored_dir, file.as_slice()).is_err(),
        "never over a store"
    );
    assert_eq!(restored.check_integrity().unwrap(), Vec::<String>::new());
}

#[test]
fn the_integrity_check_finds_indexes_and_counts_out_of_step() {
    let (_dir, store, alice, s) = with_a_session();
    assert!(store.check_integrity().unwrap().is_empty());
    store.users_by_name.remove("alice").unwrap();
    let forgetful = users::StoredUser {
        user: alice.clone(),
        logins: users::Logins::default(),
    };
    store
        .users
        .insert(alice.id.as_bytes(), encode(&forgetful).unwrap())
        .unwrap();
    store.meta.insert("count.users", &7i64.to_be_bytes()).unwrap();
    let link = LinkRecord {
        kind: LinkKind::Reset,
        user_id: alice.id,
        email: alice.email.clone(),
        expires_at: 100,
        used_at: None,
    };
    store.create_link(&[9; 32], &link).unwrap();
    assert!(!store.check_integrity().unwrap().iter().any(|p| p.contains("links")));
    store.user_links.clear().unwrap();
    let problems = store.check_integrity().unwrap();
    for needle in [
        "users_by_name: no entry \"alice\"",
        format!("logins: session {} is not among its user's", s.id).as_str(),
        "count.users is 7",
        "user_links: no entry",
    ] {
        assert!(problems.iter().any(|p| p.contains(needle)), "{needle}: {problems:?}");
    }
}

/// A change to make to the store, after so many writes to a [`Meddling`] target.
type Change<'a> = (usize, Box<dyn FnOnce(&SledStore) + 'a>);

/// A backup target that makes changes to the store while the backup is being written.
struct Meddling<'a> {
    store: &'a SledStore,
    calls: usize,
    bytes: Vec<u8>,
    changes: Vec<Change<'a>>,
}

impl std::io::Write for Meddling<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.changes.first().is_some_and(|(at, _)| *at <= self.calls) {
            let (_, change) = self.changes.remove(0);
            change(self.store);
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn changes_made_while_a_backup_is_written_are_in_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.raise_token_horizon(100).unwrap();
    let mut people = Vec::new();
    for i in 0..30 {
        let u = user(&format!("user{i}"), &format!("u{i}@example.com"));
        store.create_user(&u).unwrap();
        let s = session(u.id);
        assert!(
            store
                .create_session(&u, &s, SessionStart::Refresh(&[i; 32], &refresh(s.id)))
                .unwrap()
        );
        people.push((u, s));
    }
    let (gone, _) = people[3].clone();
    let (_, ended) = people[7].clone();
    let (_, rotated) = people[11].clone();
    let late = user("late", "late@example.com");
    let late_session = session(late.id);
    let mut target = Meddling {
        store: &store,
        calls: 0,
        bytes: Vec::new(),
        changes: vec![
            (
                100,
                Box::new(move |s: &SledStore| {
                    s.delete_user(&gone, 20).unwrap();
                }),
            ),
            (
                500,
                Box::new(move |s: &SledStore| {
                    s.create_user(&late).unwrap();
                    assert!(
                        s.create_session(
                            &late,
                            &late_session,
                            SessionStart::Refresh(&[200; 32], &refresh(late_session.id))
                        )
                        .unwrap()
                    );
                }),
            ),
            (
                700,
                Box::new(move |s: &SledStore| assert!(s.revoke_session(ended.id, 20).unwrap().is_some())),
            ),
            (
                900,
                Box::new(move |s: &SledStore| {
                    let next = refresh(rotated.id);
                    assert_eq!(
                        s.rotate_refresh(&[11; 32], &[211; 32], &next, 30).unwrap(),
                        Rotation::Rotated
                    );
                    s.deny("jti-late", 500).unwrap();
                    s.put_setting("guest_enabled", "true").unwrap();
                }),
            ),
        ],
    };
    let written = store.write_backup(&mut target).unwrap();
    assert!(target.changes.is_empty(), "every change ran during the backup");
    assert!(written.changed > 0, "{written:?}");
    let restored_dir = dir.path().join("restored");
    SledStore::restore_backup(&restored_dir, target.bytes.as_slice()).unwrap();
    let restored = SledStore::open(&restored_dir).unwrap();
    for name in store.db.tree_names() {
        let all = |db: &sled::Db| {
            db.open_tree(&name)
                .unwrap()
                .iter()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        };
        assert_eq!(
            all(&store.db),
            all(&restored.db),
            "tree {}",
            String::from_utf8_lossy(&name)
        );
    }
    assert_eq!(restored.check_integrity().unwrap(), Vec::<String>::new());
    assert!(restored.user_by_login("user3").unwrap().is_none());
    assert!(restored.user_by_login("late").unwrap().is_some());
}

#[test]
fn users_come_a_page_at_a_time_in_name_order_and_search_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for (name, email) in [
        ("carol", "c@example.com"),
        ("Albert", "bert@example.com"),
        ("alice", "a@example.com"),
        ("zed", "Al.zed@example.com"),
        ("bob", "b@example.com"),
    ] {
        store.create_user(&user(name, email)).unwrap();
    }
    let names = |page: Vec<UserRecord>| page.into_iter().map(|u| u.username).collect::<Vec<_>>();
    // Walked two at a time, with a user deleted between pages: no gap, no repeat.
    let mut walked = names(store.users_page(None, None, 2).unwrap());
    assert_eq!(walked, ["Albert", "alice"]);
    let bob = store.user_by_login("bob").unwrap().unwrap();
    store.delete_user(&bob, 1).unwrap();
    walked.extend(names(store.users_page(Some("alice"), None, 2).unwrap()));
    walked.extend(names(store.users_page(Some("zed"), None, 2).unwrap()));
    assert_eq!(walked, ["Albert", "alice", "carol", "zed"]);
    // A cursor whose user is gone still continues after it; past the end, nothing.
    assert_eq!(names(store.users_page(Some("BOB"), None, 9).unwrap()), ["carol", "zed"]);
    assert!(store.users_page(Some("zzz"), None, 9).unwrap().is_empty());
    // By prefix of the username or the email, in name order, paged.
    assert_eq!(
        names(store.users_page(None, Some("al"), 9).unwrap()),
        ["Albert", "alice", "zed"]
    );
    assert_eq!(
        names(store.users_page(None, Some("al"), 2).unwrap()),
        ["Albert", "alice"]
    );
    assert_eq!(names(store.users_page(Some("alice"), Some("al"), 2).unwrap()), ["zed"]);
    assert!(store.users_page(None, Some("x"), 9).unwrap().is_empty());
}

#[test]
fn live_sessions_come_a_page_at_a_time_in_id_order_of_everyone_or_some() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let (amy, bob) = (user("amy", "amy@example.com"), user("bob", "bob@example.com"));
    store.create_user(&amy).unwrap();
    store.create_user(&bob).unwrap();
    let mut ids = Vec::new();
    for (i, owner) in [&amy, &bob, &amy, &bob, &amy].into_iter().enumerate() {
        let s = session(owner.id);
        let digest = [u8::try_from(i).unwrap(); 32];
        store
            .create_session(owner, &s, SessionStart::Refresh(&digest, &refresh(s.id)))
            .unwrap();
        ids.push(s.id);
    }
    ids.sort();
    // One revoked: never listed.
    store.revoke_session(ids[1], 20).unwrap();
    let live: Vec<Uuid> = ids.iter().copied().filter(|id| *id != ids[1]).collect();
    let page = |after, users: Option<&[Uuid]>, limit| {
        store
            .sessions_page(after, users, 20, limit)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    let mut walked = page(None, None, 2);
    walked.extend(page(walked.last().copied(), None, 2));
    walked.extend(page(walked.last().copied(), None, 2));
    assert_eq!(walked, live);
    let amys: Vec<Uuid> = store.open_sessions_of(amy.id, 20).unwrap();
    let mut amys_sorted = amys.clone();
    amys_sorted.sort();
    assert_eq!(page(None, Some(&[amy.id]), 9), amys_sorted);
    assert_eq!(page(Some(amys_sorted[0]), Some(&[amy.id]), 1), [amys_sorted[1]]);
    assert!(page(Some(Uuid::max()), None, 9).is_empty());
    assert_eq!(store.user_ids_by_name_prefix("b").unwrap(), [bob.id]);
}

#[test]
fn factors_use_each_totp_step_and_recovery_code_once_and_tokens_die_as_told() {
    use crate::records::{FactorsRecord, MfaTokenRecord, TotpFactor};
    let (_dir, store, alice, _) = with_a_session();
    assert!(!store.use_totp_step(alice.id, 5).unwrap(), "no factor yet");
    let factors = FactorsRecord {
        totp: Some(TotpFactor {
            secret: vec![1; 20],
            confirmed: true,
            created_at: 1,
            last_step: 4,
        }),
        recovery: vec![[7; 32], [8; 32]],
    };
    store.put_factors(alice.id, &factors).unwrap();
    assert!(!store.use_totp_step(alice.id, 4).unwrap(), "the step already used");
    assert!(store.use_totp_step(alice.id, 6).unwrap());
    assert!(!store.use_totp_step(alice.id, 5).unwrap(), "an older step");
    assert!(store.use_recovery_code(alice.id, &[7; 32]).unwrap());
    assert!(!store.use_recovery_code(alice.id, &[7; 32]).unwrap(), "used");
    let now = store.factors(alice.id).unwrap().unwrap();
    assert_eq!((now.totp.unwrap().last_step, now.recovery), (6, vec![[8; 32]]));

    let token = MfaTokenRecord {
        user_id: alice.id,
        expires_at: 100,
        failures: 0,
        scopes: None,
        password: [9; 32],
    };
    store.create_mfa_token(&[3; 32], &token).unwrap();
    assert_eq!(store.attempt_mfa_token(&[3; 32], 10, 2).unwrap().unwrap().failures, 1);
    assert_eq!(store.attempt_mfa_token(&[3; 32], 10, 2).unwrap().unwrap().failures, 2);
    assert_eq!(
        store.attempt_mfa_token(&[3; 32], 10, 2).unwrap(),
        None,
        "no attempt past the limit"
    );
    store.create_mfa_token(&[6; 32], &token).unwrap();
    assert_eq!(
        store.attempt_mfa_token(&[6; 32], 100, 2).unwrap(),
        None,
        "none once expired"
    );
    store.create_mfa_token(&[4; 32], &token).unwrap();
    assert_eq!(store.take_mfa_token(&[4; 32]).unwrap(), Some(token.clone()));
    assert_eq!(store.take_mfa_token(&[4; 32]).unwrap(), None, "once");
    store.create_mfa_token(&[5; 32], &token).unwrap();
    assert_eq!(store.purge_expired(99, &mut || {}).unwrap().mfa_tokens, 0);
    assert_eq!(
        store.purge_expired(100, &mut || {}).unwrap().mfa_tokens,
        3,
        "the used-up, the expired and the waiting one"
    );

    // Confirming takes the pending secret's step; recovery codes go only with a factor.
    let pending = FactorsRecord {
        totp: Some(TotpFactor {
            secret: vec![2; 20],
            confirmed: false,
            created_at: 1,
            last_step: 0,
        }),
        recovery: vec![],
    };
    store.put_factors(alice.id, &pending).unwrap();
    assert!(
        !store.replace_recovery_codes(alice.id, &[[1; 32]]).unwrap(),
        "nothing active"
    );
    assert!(
        !store.confirm_totp(alice.id, &[3; 20], 9, Some(&[[1; 32]])).unwrap(),
        "another secret"
    );
    assert!(store.confirm_totp(alice.id, &[2; 20], 9, Some(&[[1; 32]])).unwrap());
    assert!(
        !store.confirm_totp(alice.id, &[2; 20], 10, None).unwrap(),
        "confirmed once"
    );
    assert!(store.replace_recovery_codes(alice.id, &[[4; 32]]).unwrap());
    let now = store.factors(alice.id).unwrap().unwrap();
    assert_eq!((now.totp.unwrap().last_step, now.recovery), (9, vec![[4; 32]]));
    assert!(store.remove_factors(alice.id).unwrap());
    assert_eq!(store.factors(alice.id).unwrap(), None);
}
