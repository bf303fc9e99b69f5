//! Golden JSON of every frame kind, and round trips.

use super::*;

fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(value: &T, golden: &str) {
    let line = encode(value).unwrap();
    assert_eq!(String::from_utf8(line.clone()).unwrap(), format!("{golden}\n"));
    let back: T = serde_json::from_slice(&line).unwrap();
    assert_eq!(&back, value);
}

#[test]
fn handshake_frames() {
    round_trip(
        &ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            client: "tessera 0.1.0".into(),
        },
        r#"{"hello":{"version":1,"client":"tessera 0.1.0"}}"#,
    );
    round_trip(
        &ServerFrame::Welcome {
            version: 1,
            daemon: "0.1.0".into(),
        },
        r#"{"welcome":{"version":1,"daemon":"0.1.0"}}"#,
    );
    round_trip(
        &ServerFrame::Refused {
            error: AdminError::new(ErrorCode::VersionMismatch, "daemon speaks 1"),
        },
        r#"{"refused":{"error":{"code":"VERSION_MISMATCH","message":"daemon speaks 1"}}}"#,
    );
}

#[test]
fn request_frames() {
    round_trip(
        &ClientFrame::Request {
            id: 1,
            call: Request::Status,
        },
        r#"{"request":{"id":1,"call":{"op":"status"}}}"#,
    );
    round_trip(
        &ClientFrame::Request {
            id: 2,
            call: Request::UserList {
                search: Some("al".into()),
                page: None,
            },
        },
        r#"{"request":{"id":2,"call":{"op":"user_list","search":"al"}}}"#,
    );
    round_trip(
        &ClientFrame::Request {
            id: 6,
            call: Request::UserList {
                search: None,
                page: Some(Page {
                    limit: 50,
                    after: Some("carol".into()),
                }),
            },
        },
        r#"{"request":{"id":6,"call":{"op":"user_list","search":null,"page":{"limit":50,"after":"carol"}}}}"#,
    );
    round_trip(
        &ClientFrame::Request {
            id: 3,
            call: Request::UserAdd {
                name: "bob".into(),
                email: "b@example.com".into(),
                role: None,
                display_name: None,
                password: Password("pw".into()),
            },
        },
        r#"{"request":{"id":3,"call":{"op":"user_add","name":"bob","email":"b@example.com","role":null,"display_name":null,"password":"pw"}}}"#,
    );
    round_trip(
        &ClientFrame::Request {
            id: 4,
            call: Request::GuestSet { enabled: true },
        },
        r#"{"request":{"id":4,"call":{"op":"guest_set","enabled":true}}}"#,
    );
    // Optional members may be left out.
    let parsed: ClientFrame = serde_json::from_str(r#"{"request":{"id":5,"call":{"op":"audit"}}}"#).unwrap();
    assert_eq!(
        parsed,
        ClientFrame::Request {
            id: 5,
            call: Request::Audit {
                limit: None,
                page: None
            }
        }
    );
}

#[test]
fn response_and_event_frames() {
    round_trip(
        &ServerFrame::Response {
            id: 7,
            outcome: Outcome::Ok(Reply::Count(3)),
        },
        r#"{"response":{"id":7,"outcome":{"ok":{"count":3}}}}"#,
    );
    round_trip(
        &ServerFrame::Response {
            id: 8,
            outcome: Outcome::Ok(Reply::Done),
        },
        r#"{"response":{"id":8,"outcome":{"ok":"done"}}}"#,
    );
    round_trip(
        &ServerFrame::Response {
            id: 9,
            outcome: Outcome::Error(AdminError::new(ErrorCode::NotFound, "no user bob")),
        },
        r#"{"response":{"id":9,"outcome":{"error":{"code":"NOT_FOUND","message":"no user bob"}}}}"#,
    );
    let user = AdminUser {
        user: crate::api::UserView {
            id: "u1".into(),
            username: "al".into(),
            email: "a@example.com".into(),
            display_name: "Al".into(),
            role: "user".into(),
            email_verified: false,
            created_at: "2026-01-01T00:00:00Z".into(),
        },
        disabled: true,
        last_login_at: Some("2026-01-02T00:00:00Z".into()),
    };
    round_trip(
        &ServerFrame::Response {
            id: 10,
            outcome: Outcome::Ok(Reply::User(user)),
        },
        r#"{"response":{"id":10,"outcome":{"ok":{"user":{"id":"u1","username":"al","email":"a@example.com","displayName":"Al","role":"user","emailVerified":false,"createdAt":"2026-01-01T00:00:00Z","disabled":true,"lastLoginAt":"2026-01-02T00:00:00Z"}}}}}"#,
    );
    round_trip(
        &ServerFrame::Event {
            event: AuditEntry {
                seq: 41,
                at: "2026-01-01T00:00:00Z".into(),
                event: "login.success".into(),
                subject: Some("u1".into()),
                username: None,
                origin: Some("127.0.0.1".into()),
                detail: None,
                request_id: None,
            },
        },
        r#"{"event":{"event":{"seq":41,"at":"2026-01-01T00:00:00Z","event":"login.success","subject":"u1","origin":"127.0.0.1","detail":null}}}"#,
    );
    round_trip(
        &ServerFrame::Event {
            event: AuditEntry {
                seq: 42,
                at: "2026-01-01T00:00:00Z".into(),
                event: "login.success".into(),
                subject: Some("u1".into()),
                username: Some("al".into()),
                origin: Some("127.0.0.1".into()),
                detail: None,
                request_id: Some("app-req-1".into()),
            },
        },
        r#"{"event":{"event":{"seq":42,"at":"2026-01-01T00:00:00Z","event":"login.success","subject":"u1","username":"al","origin":"127.0.0.1","detail":null,"requestId":"app-req-1"}}}"#,
    );
}

#[test]
fn activity_frames() {
    round_trip(
        &ClientFrame::Request {
            id: 11,
            call: Request::Activity,
        },
        r#"{"request":{"id":11,"call":{"op":"activity"}}}"#,
    );
    round_trip(
        &ServerFrame::Response {
            id: 11,
            outcome: Outcome::Ok(Reply::Activity(Activity {
                uptime_seconds: 5,
                sessions: 2,
                hash_queue: 1,
                counters: Counters {
                    logins: 3,
                    failures: 1,
                    refreshes: 4,
                    issued: 9,
                    reuse_detected: 1,
                    revocations: 2,
                    admin_actions: 0,
                },
            })),
        },
        r#"{"response":{"id":11,"outcome":{"ok":{"activity":{"uptimeSeconds":5,"sessions":2,"hashQueue":1,"counters":{"logins":3,"failures":1,"refreshes":4,"issued":9,"reuseDetected":1,"revocations":2,"adminActions":0}}}}}}"#,
    );
    // A daemon from before these fields still parses (they default to zero).
    let old: Activity =
        serde_json::from_str(r#"{"uptimeSeconds":1,"sessions":0,"counters":{"logins":0,"failures":0,"refreshes":0,"revocations":0,"adminActions":0}}"#)
            .unwrap();
    assert_eq!((old.hash_queue, old.counters.issued), (0, 0));
}

#[test]
fn passwords_are_redacted_in_debug() {
    let call = Request::UserSetPassword {
        name: "bob".into(),
        password: Password("hunter22".into()),
    };
    assert!(!format!("{call:?}").contains("hunter22"));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for line in [
        "",
        "{",
        "[]",
        r#"{"request":{"id":1,"call":{"op":"nope"}}}"#,
        r#"{"hello":{}}"#,
    ] {
        assert!(serde_json::from_str::<ClientFrame>(line).is_err(), "{line}");
    }
}
