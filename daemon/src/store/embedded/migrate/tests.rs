//! The upgrade from schema version 1 on stores written the way version 1 wrote them:
//! JSON records (the old encoder, kept here for that purpose), empty `user_sessions`
//! entries, no counters and no revocation index.

use super::user_session_key;
use crate::records::{
    ApiTokenRecord, AuditRecord, ClientRecord, KeyKind, KeyRecord, RefreshRecord, SessionRecord, UserRecord,
};
use crate::store::embedded::users::Logins;
use crate::store::embedded::users::StoredUser;
use crate::store::{Barred, FOR_GOOD, SessionKind, SledStore};
use serde::Serialize;
use std::path::Path;
use uuid::Uuid;

/// What a version 1 store held.
pub(crate) struct V1 {
    pub(crate) alice: UserRecord,
    pub(crate) bob: UserRecord,
    pub(crate) open: SessionRecord,
    pub(crate) revoked: SessionRecord,
    pub(crate) refresh: RefreshRecord,
    pub(crate) key: KeyRecord,
    pub(crate) client: ClientRecord,
    pub(crate) api_token: ApiTokenRecord,
    pub(crate) audit: AuditRecord,
}

fn user(name: &str, disabled: bool) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        username: name.into(),
        email: format!("{name}@example.com"),
        display_name: name.to_uppercase(),
        role: "user".into(),
        email_verified: false,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        disabled,
        created_at: 1_700_000_000,
    }
}

fn session(user_id: Uuid, revoked_at: Option<i64>) -> SessionRecord {
    SessionRecord {
        id: Uuid::now_v7(),
        user_id,
        scopes: vec!["read".into(), "write".into()],
        created_at: 1_700_000_000,
        expires_at: i64::MAX / 2,
        revoked_at,
        kind: SessionKind::App,
        client_id: None,
        browser_login: None,
    }
}

pub(crate) fn v1_records() -> V1 {
    let alice = user("alice", false);
    let bob = user("bob", true);
    let open = session(alice.id, None);
    let revoked = session(alice.id, Some(1_700_000_100));
    V1 {
        refresh: RefreshRecord {
            session_id: open.id,
            issued_at: 1_700_000_000,
            expires_at: i64::MAX / 2,
            rotated_at: None,
            client_id: Some("svc".into()),
        },
        key: crate::tokens::missing_keys(&[], time::OffsetDateTime::now_utc())
            .unwrap()
            .remove(0),
        client: ClientRecord {
            client_id: "svc".into(),
            secret_digest: "cd".repeat(32),
            scopes: vec!["read".into()],
            created_at: 1_700_000_000,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            first_party: false,
            retiring_secret: None,
            id_token_alg: Default::default(),
        },
        api_token: ApiTokenRecord {
            id: "tok1".into(),
            user_id: alice.id,
            name: "ci".into(),
            scopes: vec!["read".into()],
            created_at: 1_700_000_000,
            expires_at: None,
            last_used_at: Some(1_700_000_500),
        },
        audit: AuditRecord {
            at: 1_700_000_000,
            event: "user.add".into(),
            subject: Some(alice.id.to_string()),
            origin: Some("uid=0".into()),
            detail: None,
            request_id: None,
        },
        alice,
        bob,
        open,
        revoked,
    }
}

/// A record as version 1 wrote it, and as the store writes it now.
fn both<T: Serialize>(record: &T) -> (Vec<u8>, Vec<u8>) {
    (
        serde_json::to_vec(record).unwrap(),
        crate::store::embedded::encode(record).unwrap(),
    )
}

/// Writes `v1` into `dir` as Tessera 1 did. `converted` trees are written as an
/// interrupted upgrade left them: already in the new encoding.
pub(crate) fn write_v1(dir: &Path, v1: &V1, converted: &[&str]) {
    let db = sled::open(dir.join("store")).unwrap();
    let tree = |name: &str| db.open_tree(name).unwrap();
    let put = |name: &str, key: &[u8], (old, new): (Vec<u8>, Vec<u8>)| {
        let value = if converted.contains(&name) { new } else { old };
        tree(name).insert(key, value).unwrap();
    };
    for u in [&v1.alice, &v1.bob] {
        put("users", u.id.as_bytes(), both(u));
        tree("users_by_name").insert(&u.username, u.id.as_bytes()).unwrap();
        tree("users_by_email").insert(&u.email, u.id.as_bytes()).unwrap();
    }
    for s in [&v1.open, &v1.revoked] {
        put("sessions", s.id.as_bytes(), both(s));
        tree("user_sessions")
            .insert(user_session_key(s.user_id, s.id), &[])
            .unwrap();
    }
    put("refresh", &[7u8; 32], both(&v1.refresh));
    put("keys", v1.key.kid.as_bytes(), both(&v1.key));
    put("clients", b"svc", both(&v1.client));
    put("api_tokens", &[8u8; 32], both(&v1.api_token));
    tree("api_token_ids").insert("tok1", &[8u8; 32]).unwrap();
    put("audit", &0u64.to_be_bytes(), both(&v1.audit));
    tree("meta").insert("schema_version", &1u32.to_be_bytes()).unwrap();
    db.flush().unwrap();
}

/// Checks that `store` serves everything `v1` held, and what the upgrade adds.
fn assert_upgraded(store: &SledStore, v1: &V1) {
    assert_eq!(store.user(v1.alice.id).unwrap().as_ref(), Some(&v1.alice));
    assert_eq!(store.user_by_login("BOB").unwrap().as_ref(), Some(&v1.bob));
    assert_eq!(store.session(v1.open.id).unwrap().as_ref(), Some(&v1.open));
    assert_eq!(
        store.session(v1.revoked.id).unwrap(),
        None,
        "a revoked session keeps no record"
    );
    assert_eq!(store.refresh_token(&[7u8; 32]).unwrap().as_ref(), Some(&v1.refresh));
    assert_eq!(store.keys().unwrap(), vec![v1.key.clone()]);
    assert_eq!(store.client("svc").unwrap().as_ref(), Some(&v1.client));
    assert_eq!(store.api_token_by_id("tok1").unwrap().as_ref(), Some(&v1.api_token));
    assert_eq!(store.audit_tail(10).unwrap(), vec![(0, v1.audit.clone())]);
    assert_eq!(store.user_count().unwrap(), 2);
    assert_eq!(store.session_count().unwrap(), 1, "the revoked session is not counted");
    assert_eq!(store.refresh_token_count().unwrap(), 1);
    assert_eq!(store.open_sessions_of(v1.alice.id, 0).unwrap(), vec![v1.open.id]);
    let (revoked, barred) = store.revocations(0).unwrap();
    assert!(revoked.is_empty(), "version 1 revocations are left to the store check");
    assert_eq!(
        barred,
        vec![Barred {
            user_id: v1.bob.id,
            until: FOR_GOOD
        }]
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let since = store.indexed_since().unwrap().unwrap();
    assert!((now - 60..=now).contains(&since), "{since}");
}

#[tokio::test]
async fn a_version_1_store_is_upgraded_at_open_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1_records();
    write_v1(dir.path(), &v1, &[]);
    let store = SledStore::open(dir.path()).unwrap();
    assert_upgraded(&store, &v1);
    drop(store);
    // Stored in the new encoding, and the schema record says so: the next open does
    // not upgrade again.
    // sled lets go of its lock on background threads just after a drop: wait for it.
    let db = super::super::open_sled(&dir.path().join("store"), super::super::CACHE_BYTES).unwrap();
    let raw = db
        .open_tree("users")
        .unwrap()
        .get(v1.alice.id.as_bytes())
        .unwrap()
        .unwrap();
    assert!(
        serde_json::from_slice::<serde_json::Value>(&raw).is_err(),
        "not JSON any more"
    );
    assert!(raw.len() < both(&v1.alice).0.len() * 3 / 4, "{} bytes", raw.len());
    let version = db.open_tree("meta").unwrap().get("schema_version").unwrap().unwrap();
    assert_eq!(version.as_ref(), crate::store::embedded::SCHEMA_VERSION.to_be_bytes());
    drop(db);
    let store = SledStore::open(dir.path()).unwrap();
    assert_upgraded(&store, &v1);
}

#[test]
fn an_upgrade_interrupted_part_way_is_finished_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1_records();
    write_v1(dir.path(), &v1, &["users", "sessions", "keys"]);
    let store = SledStore::open(dir.path()).unwrap();
    assert_upgraded(&store, &v1);
}

#[test]
fn version_2_clients_and_sessions_gain_their_new_fields() {
    #[derive(Serialize)]
    struct ClientV2<'a> {
        client_id: &'a str,
        secret_digest: &'a str,
        scopes: Vec<&'a str>,
        created_at: i64,
    }
    #[derive(Serialize)]
    struct SessionV3 {
        id: Uuid,
        user_id: Uuid,
        scopes: Vec<String>,
        created_at: i64,
        expires_at: i64,
        revoked_at: Option<i64>,
    }
    let old_session = SessionV3 {
        id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        scopes: vec!["read".into()],
        created_at: 5,
        expires_at: 50,
        revoked_at: None,
    };
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    // sled lets go of its lock on background threads just after a drop: wait for it.
    let db = super::super::open_sled(&dir.path().join("store"), super::super::CACHE_BYTES).unwrap();
    let v2 = ClientV2 {
        client_id: "svc",
        secret_digest: "ab",
        scopes: vec!["read"],
        created_at: 7,
    };
    db.open_tree("clients")
        .unwrap()
        .insert("svc", postcard::to_allocvec(&v2).unwrap())
        .unwrap();
    db.open_tree("sessions")
        .unwrap()
        .insert(old_session.id.as_bytes(), postcard::to_allocvec(&old_session).unwrap())
        .unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &2u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop(db);
    for _ in 0..2 {
        let store = SledStore::open(dir.path()).unwrap();
        let client = store.client("svc").unwrap().unwrap();
        assert_eq!(
            (client.secret_digest.as_str(), client.scopes, client.created_at),
            ("ab", vec!["read".to_owned()], 7)
        );
        assert!(client.redirect_uris.is_empty() && !client.public && !client.first_party);
        assert_eq!(client.retiring_secret, None);
        let session = store.session(old_session.id).unwrap().unwrap();
        assert_eq!(
            (session.revoked_at, session.kind, session.client_id),
            (None, SessionKind::App, None)
        );
    }
}

#[test]
fn version_4_clients_gain_no_retiring_secret_and_keep_the_rest() {
    #[derive(Serialize)]
    struct ClientV4<'a> {
        client_id: &'a str,
        secret_digest: &'a str,
        scopes: Vec<&'a str>,
        created_at: i64,
        redirect_uris: Vec<&'a str>,
        post_logout_redirect_uris: Vec<&'a str>,
        public: bool,
        first_party: bool,
    }
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    // sled lets go of its lock on background threads just after a drop: wait for it.
    let db = super::super::open_sled(&dir.path().join("store"), super::super::CACHE_BYTES).unwrap();
    let v4 = ClientV4 {
        client_id: "web",
        secret_digest: "cd",
        scopes: vec!["read", "write"],
        created_at: 8,
        redirect_uris: vec!["https://app.example/cb"],
        post_logout_redirect_uris: vec!["https://app.example/"],
        public: false,
        first_party: true,
    };
    db.open_tree("clients")
        .unwrap()
        .insert("web", postcard::to_allocvec(&v4).unwrap())
        .unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &4u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop(db);
    for _ in 0..2 {
        let store = SledStore::open(dir.path()).unwrap();
        let client = store.client("web").unwrap().unwrap();
        assert_eq!(
            client,
            ClientRecord {
                client_id: "web".into(),
                secret_digest: "cd".into(),
                scopes: vec!["read".into(), "write".into()],
                created_at: 8,
                redirect_uris: vec!["https://app.example/cb".into()],
                post_logout_redirect_uris: vec!["https://app.example/".into()],
                public: false,
                first_party: true,
                retiring_secret: None,
                id_token_alg: Default::default(),
            }
        );
    }
}

#[test]
fn version_6_audit_entries_gain_no_request_id_and_keep_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    // sled lets go of its lock on background threads just after a drop: wait for it.
    let db = super::super::open_sled(&dir.path().join("store"), super::super::CACHE_BYTES).unwrap();
    let v6 = super::AuditRecordV6 {
        at: 9,
        event: "login.success".into(),
        subject: Some("alice".into()),
        origin: Some("127.0.0.1".into()),
        detail: Some("session".into()),
    };
    db.open_tree("audit")
        .unwrap()
        .insert(7u64.to_be_bytes(), postcard::to_allocvec(&v6).unwrap())
        .unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &6u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop(db);
    for _ in 0..2 {
        let store = SledStore::open(dir.path()).unwrap();
        let expected = AuditRecord {
            at: 9,
            event: "login.success".into(),
            subject: Some("alice".into()),
            origin: Some("127.0.0.1".into()),
            detail: Some("session".into()),
            request_id: None,
        };
        assert_eq!(store.audit_tail(10).unwrap(), vec![(7, expected)]);
    }
}

#[test]
fn version_7_keys_clients_codes_and_sessions_gain_their_openid_connect_fields() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    // sled lets go of its lock on background threads just after a drop: wait for it.
    let db = super::super::open_sled(&dir.path().join("store"), super::super::CACHE_BYTES).unwrap();
    let v1 = v1_records();
    let key = super::KeyRecordV7 {
        kid: v1.key.kid.clone(),
        secret: v1.key.secret.clone(),
        created_at: v1.key.created_at,
        retired_at: None,
    };
    let client = super::ClientRecordV7 {
        client_id: "web".into(),
        secret_digest: "cd".into(),
        scopes: vec!["openid".into()],
        created_at: 8,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: true,
        retiring_secret: None,
    };
    let code = super::CodeRecordV7 {
        client_id: "web".into(),
        redirect_uri: None,
        scopes: vec!["openid".into()],
        user_id: v1.alice.id,
        browser_session: v1.revoked.id,
        challenge: "c".repeat(43),
        expires_at: i64::MAX / 2,
        used_at: None,
        session_id: None,
    };
    let o = &v1.open;
    let session = super::SessionRecordV7 {
        id: o.id,
        user_id: o.user_id,
        scopes: o.scopes.clone(),
        created_at: o.created_at,
        expires_at: o.expires_at,
        revoked_at: None,
        kind: SessionKind::App,
        client_id: Some("web".into()),
    };
    let put = |tree: &str, key: &[u8], value: Vec<u8>| {
        db.open_tree(tree).unwrap().insert(key, value).unwrap();
    };
    put("keys", key.kid.as_bytes(), postcard::to_allocvec(&key).unwrap());
    put("clients", b"web", postcard::to_allocvec(&client).unwrap());
    put("codes", &[5u8; 32], postcard::to_allocvec(&code).unwrap());
    put("sessions", o.id.as_bytes(), postcard::to_allocvec(&session).unwrap());
    put("meta", b"schema_version", 7u32.to_be_bytes().to_vec());
    db.flush().unwrap();
    drop(db);
    for _ in 0..2 {
        let store = SledStore::open(dir.path()).unwrap();
        let keys = store.keys().unwrap();
        assert_eq!(keys, vec![v1.key.clone()], "a PASETO key, as before");
        let missing = crate::tokens::missing_keys(&keys, time::OffsetDateTime::now_utc()).unwrap();
        let kinds: Vec<KeyKind> = missing.iter().map(|k| k.kind).collect();
        assert_eq!(
            kinds,
            [KeyKind::IdTokenRs256, KeyKind::IdTokenEdDsa],
            "made at the next start"
        );
        let upgraded = store.client("web").unwrap().unwrap();
        assert_eq!(upgraded.id_token_alg, crate::records::IdTokenAlg::RS256);
        assert_eq!(upgraded.scopes, ["openid"]);
        let upgraded = store.session(o.id).unwrap().unwrap();
        assert_eq!(
            (upgraded.browser_login, upgraded.client_id.as_deref()),
            (None, Some("web"))
        );
    }
    let store = SledStore::open(dir.path()).unwrap();
    let crate::store::CodeUse::Fresh(upgraded) = store.use_code(&[5u8; 32], 10, Uuid::now_v7()).unwrap() else {
        panic!("the code survives the upgrade");
    };
    assert_eq!((upgraded.nonce, upgraded.auth_time), (None, 0));
    assert_eq!(upgraded.challenge, "c".repeat(43));
}

/// What a version 5 store held: `user_sessions`, `last_login` and `refresh` in their
/// old layouts, one revoked session among alice's, and bob with a last login but no
/// session. Returns the db, still open.
fn write_v5(dir: &Path, v1: &V1) -> sled::Db {
    drop(SledStore::open(dir).unwrap());
    // sled lets go of its lock on background threads just after a drop: wait for it.
    let db = super::super::open_sled(&dir.join("store"), super::super::CACHE_BYTES).unwrap();
    let tree = |name: &str| db.open_tree(name).unwrap();
    for u in [&v1.alice, &v1.bob] {
        tree("users")
            .insert(u.id.as_bytes(), postcard::to_allocvec(u).unwrap())
            .unwrap();
    }
    for s in [&v1.open, &v1.revoked] {
        tree("sessions")
            .insert(s.id.as_bytes(), postcard::to_allocvec(s).unwrap())
            .unwrap();
        let end = if s.revoked_at.is_some() {
            vec![]
        } else {
            s.expires_at.to_be_bytes().to_vec()
        };
        tree("user_sessions")
            .insert(user_session_key(s.user_id, s.id), end)
            .unwrap();
    }
    for (user, time) in [(v1.alice.id, ALICE_LAST), (v1.bob.id, BOB_LAST)] {
        tree("last_login").insert(user.as_bytes(), &time.to_be_bytes()).unwrap();
    }
    let r = &v1.refresh;
    let old = super::RefreshRecordV5 {
        session_id: r.session_id,
        issued_at: r.issued_at,
        expires_at: r.expires_at,
        parent: Some("ab".repeat(32)),
        rotated_at: r.rotated_at,
        client_id: r.client_id.clone(),
    };
    tree("refresh")
        .insert([7u8; 32], postcard::to_allocvec(&old).unwrap())
        .unwrap();
    tree("meta").insert("schema_version", &5u32.to_be_bytes()).unwrap();
    db.flush().unwrap();
    db
}

const ALICE_LAST: i64 = 1_700_000_050;
const BOB_LAST: i64 = 1_600_000_000;

/// Checks what a version 5 store written by [`write_v5`] reads as after the upgrade.
fn assert_v6(store: &SledStore, v1: &V1) {
    assert_eq!(store.user(v1.alice.id).unwrap().as_ref(), Some(&v1.alice));
    assert_eq!(store.user(v1.bob.id).unwrap().as_ref(), Some(&v1.bob));
    assert_eq!(store.session(v1.open.id).unwrap().as_ref(), Some(&v1.open));
    assert_eq!(
        store.session(v1.revoked.id).unwrap(),
        None,
        "a revoked session keeps no record"
    );
    assert_eq!(store.sessions_of(v1.alice.id).unwrap(), vec![v1.open.clone()]);
    assert_eq!(store.open_sessions_of(v1.alice.id, 0).unwrap(), vec![v1.open.id]);
    assert_eq!(store.last_login(v1.alice.id).unwrap(), Some(ALICE_LAST));
    assert_eq!(store.last_login(v1.bob.id).unwrap(), Some(BOB_LAST));
    assert!(store.sessions_of(v1.bob.id).unwrap().is_empty());
    assert_eq!(store.refresh_token(&[7u8; 32]).unwrap().as_ref(), Some(&v1.refresh));
    // Only the indexes and counters the test did not write are out of step.
    let problems = store.check_integrity().unwrap();
    let sessions: Vec<_> = problems
        .iter()
        .filter(|p| p.starts_with("logins") || p.starts_with("sessions"))
        .collect();
    assert!(sessions.is_empty(), "{sessions:?}");
}

#[test]
fn a_version_5_store_keeps_each_users_sessions_in_the_users_value() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1_records();
    drop(write_v5(dir.path(), &v1));
    for _ in 0..2 {
        assert_v6(&SledStore::open(dir.path()).unwrap(), &v1);
    }
    // The old trees stay until a compaction, which (like any restore) leaves them out.
    let store = SledStore::open(dir.path()).unwrap();
    assert!(!store.db.open_tree("user_sessions").unwrap().is_empty());
    let mut backup = Vec::new();
    store.write_backup(&mut backup).unwrap();
    let compacted = tempfile::tempdir().unwrap();
    SledStore::restore_backup(compacted.path(), backup.as_slice()).unwrap();
    let restored = SledStore::open(compacted.path()).unwrap();
    assert_v6(&restored, &v1);
    for retired in super::RETIRED_TREES {
        assert!(
            restored.db.open_tree(retired).unwrap().is_empty(),
            "{retired} was restored"
        );
    }
}

#[test]
fn the_version_5_upgrade_runs_again_after_a_crash_at_any_point() {
    // Run through once, then again before the schema record: every step can repeat.
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1_records();
    let db = write_v5(dir.path(), &v1);
    super::v5_to_v6(&db).unwrap();
    super::run(&db, 5).unwrap();
    db.flush().unwrap();
    drop(db);
    assert_v6(&SledStore::open(dir.path()).unwrap(), &v1);
    // Stopped after alice's value was converted and before bob's: hers is not
    // converted again (nor read as the old layout), his is.
    let dir = tempfile::tempdir().unwrap();
    let db = write_v5(dir.path(), &v1);
    let alice = StoredUser {
        user: v1.alice.clone(),
        logins: Logins {
            last: Some(ALICE_LAST),
            open: vec![(v1.open.id, v1.open.expires_at)],
        },
    };
    db.open_tree("users")
        .unwrap()
        .insert(v1.alice.id.as_bytes(), postcard::to_allocvec(&alice).unwrap())
        .unwrap();
    super::run(&db, 5).unwrap();
    db.flush().unwrap();
    drop(db);
    assert_v6(&SledStore::open(dir.path()).unwrap(), &v1);
}
