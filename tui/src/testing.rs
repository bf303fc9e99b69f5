//! Test fixtures for the console's unit tests: a small, fixed daemon state and a
//! function that answers the console's requests from it, so that update and draw
//! can be exercised without a socket; and a scripted socket peer for the client's
//! own tests. Whole-process tests use the real daemon.

use crate::app::{App, Effect, Event};
use tessera_common::admin::{
    Activity, AdminApiToken, AdminUser, AuditEntry, ClientCreated, ClientView, Counters, Outcome, PROTOCOL_VERSION,
    Page, RecordCounts, Reply, Request, ServerFrame, SessionView, StatusView, encode,
};
use tessera_common::api::{ApiTokenView, KeyStatus, KeyView, UserView};

pub fn user(name: &str, role: &str, disabled: bool) -> AdminUser {
    AdminUser {
        user: UserView {
            id: format!("id-{name}"),
            username: name.into(),
            email: format!("{name}@example.com"),
            display_name: name.to_uppercase(),
            role: role.into(),
            email_verified: false,
            created_at: "2026-11-01T09:00:00Z".into(),
        },
        disabled,
        last_login_at: (!disabled).then(|| "2026-11-27T10:15:00Z".into()),
    }
}

pub fn users() -> Vec<AdminUser> {
    vec![
        user("alice", "admin", false),
        user("bob", "user", false),
        user("carol", "user", true),
    ]
}

pub fn sessions() -> Vec<SessionView> {
    ["alice", "bob"]
        .iter()
        .enumerate()
        .map(|(i, name)| SessionView {
            id: format!("sess-{i}-{name}"),
            user_id: format!("id-{name}"),
            username: (*name).into(),
            scopes: vec!["read".into(), "write".into()],
            created_at: format!("2026-11-27T10:1{i}:00Z"),
            expires_at: "2026-12-27T10:15:00Z".into(),
            kind: "app".into(),
            client_id: None,
        })
        .collect()
}

pub fn tokens() -> Vec<AdminApiToken> {
    vec![AdminApiToken {
        token: ApiTokenView {
            id: "tok-ci".into(),
            name: "ci".into(),
            scopes: vec!["read".into()],
            created_at: "2026-11-20T08:00:00Z".into(),
            expires_at: None,
            last_used_at: Some("2026-11-27T10:00:00Z".into()),
        },
        user_id: "id-bob".into(),
        username: "bob".into(),
    }]
}

pub fn clients() -> Vec<ClientView> {
    vec![ClientView {
        client_id: "reports".into(),
        scopes: vec!["read".into()],
        created_at: "2026-11-02T12:00:00Z".into(),
        redirect_uris: vec!["https://reports.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: true,
        id_token_signed_response_alg: tessera_common::oauth::IdTokenAlg::EdDSA,
    }]
}

pub fn keys() -> Vec<KeyView> {
    let key = |kid: &str, status| KeyView {
        kid: kid.into(),
        paserk: "k4.public.x".into(),
        version: "v4".into(),
        purpose: "public".into(),
        status,
        created_at: "2026-11-01T09:00:00Z".into(),
    };
    vec![
        key("k4.pid.ACTIVEKEY", KeyStatus::Active),
        key("k4.pid.RETIRINGKEY", KeyStatus::Retiring),
    ]
}

pub fn activity(uptime: u64, logins: u64) -> Activity {
    Activity {
        uptime_seconds: uptime,
        sessions: 2,
        hash_queue: 1,
        counters: Counters {
            logins,
            failures: logins / 4,
            refreshes: logins / 2,
            issued: logins * 2,
            reuse_detected: 0,
            revocations: 1,
            admin_actions: 0,
        },
    }
}

pub fn status() -> StatusView {
    StatusView {
        version: "0.1.0".into(),
        activity: activity(3725, 40),
        users: 3,
        api_tokens: 1,
        clients: 1,
        guest_enabled: false,
        registration_open: true,
        key_ids: keys().into_iter().map(|k| k.kid).collect(),
        roles: vec!["admin".into(), "guest".into(), "user".into()],
        store_bytes: 1_048_576,
        records: RecordCounts {
            users: 3,
            sessions: 2,
            refresh_tokens: 2,
            api_tokens: 1,
            clients: 1,
            denied: 0,
            audit: 2,
        },
        compacted: None,
    }
}

pub fn audit_entry(seq: u64, event: &str, subject: &str) -> AuditEntry {
    AuditEntry {
        seq,
        at: "2026-11-27T10:15:00Z".into(),
        event: event.into(),
        subject: Some(subject.into()),
        username: None,
        origin: Some("127.0.0.1".into()),
        detail: None,
        request_id: None,
    }
}

/// A page of `rows` as the daemon pages: in key order, after the cursor, with the
/// cursor of the next page when more follow.
fn paged<T>(rows: impl Iterator<Item = T>, page: &Page, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let after = page.after.as_deref().map(str::to_lowercase);
    let mut rest: Vec<T> = rows.filter(|r| after.as_ref().is_none_or(|a| key(r) > *a)).collect();
    rest.sort_by_key(|r| key(r));
    if rest.len() <= page.limit {
        return (rest, None);
    }
    rest.truncate(page.limit);
    let next = rest.last().map(&key);
    (rest, next)
}

/// The fixture daemon's answer to `call`.
pub fn answer(call: &Request) -> Outcome {
    Outcome::Ok(match call {
        Request::Status => Reply::Status(Box::new(status())),
        Request::Activity => Reply::Activity(activity(3725, 40)),
        Request::UserList { page: None, .. } => Reply::Users(users()),
        Request::UserList {
            page: Some(page),
            search,
        } => {
            let prefix = search.as_deref().unwrap_or_default().to_lowercase();
            let found = users()
                .into_iter()
                .filter(|u| u.user.username.starts_with(&prefix) || u.user.email.starts_with(&prefix));
            let (users, next) = paged(found, page, |u| u.user.username.to_lowercase());
            Reply::UserPage { users, next }
        }
        Request::SessionList {
            name: None,
            page: Some(page),
            search,
        } => {
            let prefix = search.as_deref().unwrap_or_default().to_lowercase();
            let found = sessions().into_iter().filter(|s| s.username.starts_with(&prefix));
            let (sessions, next) = paged(found, page, |s| s.id.clone());
            Reply::SessionPage { sessions, next }
        }
        Request::SessionList { name: None, .. } => Reply::Sessions(sessions()),
        Request::SessionList { name: Some(n), .. } => {
            Reply::Sessions(sessions().into_iter().filter(|s| s.username == *n).collect())
        }
        Request::TokenList {
            name: None,
            page: Some(page),
            search,
        } => {
            let prefix = search.as_deref().unwrap_or_default().to_lowercase();
            let found = tokens().into_iter().filter(|t| t.username.starts_with(&prefix));
            let (tokens, next) = paged(found, page, |t| t.token.id.clone());
            Reply::TokenPage { tokens, next }
        }
        Request::TokenList { name: None, .. } => Reply::ApiTokens(tokens()),
        Request::TokenList { name: Some(n), .. } => {
            Reply::ApiTokens(tokens().into_iter().filter(|t| t.username == *n).collect())
        }
        Request::ClientList => Reply::Clients(clients()),
        Request::KeyList | Request::KeyRotate => Reply::Keys(keys()),
        Request::Audit { .. } => Reply::Audit(vec![
            audit_entry(1, "register", "id-alice"),
            audit_entry(2, "login.failure", "id-bob"),
        ]),
        Request::ClientAdd {
            client_id,
            scopes,
            public,
            ..
        } => Reply::ClientCreated(ClientCreated {
            client_id: client_id.clone(),
            client_secret: (!public).then(|| "tsr_cs_ONLYSHOWNONCE".into()),
            scopes: scopes.clone(),
        }),
        Request::ClientRotateSecret { client_id, .. } => Reply::ClientCreated(ClientCreated {
            client_id: client_id.clone(),
            client_secret: Some("tsr_cs_NEWSECRET".into()),
            scopes: vec!["read".into()],
        }),
        Request::SessionRevokeAll { .. } | Request::UserSetPassword { .. } => Reply::Count(1),
        Request::GuestSet { enabled } => Reply::Guest { enabled: *enabled },
        Request::RegistrationSet { open } => Reply::Registration { open: *open },
        _ => Reply::Done,
    })
}

/// Applies `effects` against the fixture daemon until nothing is left to send;
/// returns every request sent, in order.
pub fn settle(app: &mut App, effects: Vec<Effect>) -> Vec<Request> {
    let mut sent = Vec::new();
    let mut queue = effects;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for effect in queue {
            if let Effect::Send { id, call } = effect {
                let outcome = answer(&call);
                sent.push(call);
                next.extend(app.update(Event::Response { id, outcome }));
            }
        }
        queue = next;
    }
    sent
}

/// A console connected to the fixture daemon, with everything loaded.
pub fn connected() -> App {
    let mut app = App::new("/run/tessera/admin.sock");
    let effects = app.update(Event::Connected { daemon: "0.1.0".into() });
    settle(&mut app, effects);
    app
}

/// A scripted admin-socket peer: welcomes, then answers each request with
/// `script[i]` frames, and closes after the last. The socket is in the returned dir.
pub fn peer(script: Vec<Vec<ServerFrame>>) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = std::io::BufReader::new(stream).lines();
        lines.next();
        let welcome = ServerFrame::Welcome {
            version: PROTOCOL_VERSION,
            daemon: "test".into(),
        };
        writer.write_all(&encode(&welcome).unwrap()).unwrap();
        for frames in script {
            lines.next();
            for frame in frames {
                writer.write_all(&encode(&frame).unwrap()).unwrap();
            }
        }
    });
    (dir, path)
}
