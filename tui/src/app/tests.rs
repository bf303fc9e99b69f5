//! The update step, driven by events and answered by the fixture daemon.

use super::*;
use crate::testing::{audit_entry, connected, settle};
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use tessera_common::admin::{AdminError, ErrorCode};

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn sent(effects: &[Effect]) -> Vec<Request> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { call, .. } => Some(call.clone()),
            Effect::Quit => None,
        })
        .collect()
}

fn usernames(app: &App) -> Vec<&str> {
    app.visible_users().iter().map(|u| u.user.username.as_str()).collect()
}

#[test]
fn connecting_subscribes_and_loads_everything() {
    let mut app = App::new("/s");
    assert_eq!(app.conn, Conn::Connecting);
    let effects = app.update(Event::Connected { daemon: "0.1.0".into() });
    let calls = sent(&effects);
    assert_eq!(calls[0], Request::Subscribe, "subscribe before reading the tail");
    assert!(calls.contains(&Request::Audit {
        limit: Some(AUDIT_TAIL),
        page: None,
    }));
    for call in [
        Request::Status,
        app.list_page(List::Users, None, None),
        app.list_page(List::Sessions, None, None),
        app.list_page(List::Tokens, None, None),
        Request::ClientList,
        Request::KeyList,
    ] {
        assert!(calls.contains(&call), "{call:?} missing from {calls:?}");
    }
    settle(&mut app, effects);
    assert_eq!(app.users.rows.len(), 3);
    assert_eq!(app.keys.len(), 2);
    assert_eq!(app.audit.len(), 2);
    assert!(app.status.is_some());
}

#[test]
fn tabs_digits_and_wrapping() {
    let mut app = connected();
    assert_eq!(app.screen, Screen::Overview);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.screen, Screen::Sessions);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Clients);
    press(&mut app, KeyCode::Char('6'));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Overview, "Tab wraps");
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.screen, Screen::Settings, "Shift-Tab wraps back");
    press(&mut app, KeyCode::Char('7'));
    assert_eq!(app.screen, Screen::Settings, "no seventh screen");
}

#[test]
fn selection_moves_within_bounds() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.selected_user().map(|u| u.user.username.as_str()), Some("alice"));
    press(&mut app, KeyCode::Up);
    assert_eq!(app.users_view.selected, 0, "no row above the first");
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_user().map(|u| u.user.username.as_str()), Some("bob"));
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected_user().map(|u| u.user.username.as_str()), Some("carol"));
    press(&mut app, KeyCode::Home);
    assert_eq!(app.users_view.selected, 0);
    press(&mut app, KeyCode::End);
    assert_eq!(app.users_view.selected, 2);
}

#[test]
fn search_narrows_keeps_and_clears() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.mode, Mode::Searching);
    typed(&mut app, "AL");
    assert_eq!(usernames(&app), ["alice"], "case-insensitive");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(
        usernames(&app).len(),
        3,
        "'a' is in every address (example.com): widening again"
    );
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "example");
    assert_eq!(usernames(&app).len(), 3);
    for _ in 0.."example".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "bo");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Browsing, "Enter keeps the search");
    assert_eq!(usernames(&app), ["bob"]);
    // Keys act on the narrowed list.
    press(&mut app, KeyCode::Char('d'));
    assert!(matches!(&app.mode, Mode::Confirm(c) if c.body.contains("bob")));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    assert_eq!(usernames(&app).len(), 3, "Esc while browsing clears the search");
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "zzz");
    assert!(usernames(&app).is_empty());
    press(&mut app, KeyCode::Esc);
    assert_eq!(
        (app.mode.clone(), usernames(&app).len()),
        (Mode::Browsing, 3),
        "Esc clears while typing"
    );
}

/// Opens a destructive action with `key`, checks the dialog names `target`, cancels
/// with `cancel` (nothing sent), opens it again and confirms with `confirm`.
fn confirm_flow(app: &mut App, key: KeyCode, target: &str, cancel: KeyCode, confirm: KeyCode, expect: Request) {
    assert!(press(app, key).is_empty());
    let Mode::Confirm(dialog) = &app.mode else {
        panic!("{key:?} should ask first, mode is {:?}", app.mode);
    };
    assert!(dialog.body.contains(target), "{} should name {target}", dialog.body);
    assert!(sent(&press(app, cancel)).is_empty(), "cancel sends nothing");
    assert_eq!(app.mode, Mode::Browsing);
    press(app, key);
    let effects = press(app, confirm);
    assert_eq!(sent(&effects), [expect]);
    assert_eq!(app.mode, Mode::Browsing);
    // The answer is reported and everything reloads.
    let follow_up = settle(app, effects);
    assert!(
        follow_up.contains(&app.list_page(List::Users, None, None)),
        "{follow_up:?}"
    );
    assert!(app.message.as_ref().is_some_and(|m| !m.error), "{:?}", app.message);
}

#[test]
fn every_destructive_action_asks_first() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    let (y, n, enter, esc) = (KeyCode::Char('y'), KeyCode::Char('n'), KeyCode::Enter, KeyCode::Esc);
    let alice = || "alice".to_owned();
    confirm_flow(
        &mut app,
        KeyCode::Char('d'),
        "alice",
        n,
        y,
        Request::UserDisable { name: alice() },
    );
    confirm_flow(
        &mut app,
        KeyCode::Char('D'),
        "alice",
        esc,
        enter,
        Request::UserDelete { name: alice() },
    );
    confirm_flow(
        &mut app,
        KeyCode::Char('x'),
        "alice",
        n,
        enter,
        Request::SessionRevokeAll { name: alice() },
    );
    confirm_flow(
        &mut app,
        KeyCode::Char('v'),
        "alice@example.com",
        esc,
        enter,
        Request::UserSendVerification { name: alice() },
    );
    confirm_flow(
        &mut app,
        KeyCode::Char('m'),
        "alice@example.com",
        n,
        y,
        Request::UserSendReset { name: alice() },
    );

    press(&mut app, KeyCode::Char('3'));
    // Newest session first.
    confirm_flow(
        &mut app,
        KeyCode::Char('x'),
        "sess-1-bob",
        esc,
        y,
        Request::SessionRevoke {
            id: "sess-1-bob".into(),
        },
    );
    press(&mut app, KeyCode::End);
    confirm_flow(
        &mut app,
        KeyCode::Char('x'),
        "\"ci\"",
        n,
        y,
        Request::TokenRevoke { id: "tok-ci".into() },
    );

    press(&mut app, KeyCode::Char('4'));
    confirm_flow(
        &mut app,
        KeyCode::Char('x'),
        "reports",
        n,
        y,
        Request::ClientRemove {
            client_id: "reports".into(),
        },
    );

    press(&mut app, KeyCode::Char('6'));
    confirm_flow(&mut app, KeyCode::Char('k'), "signing key", n, y, Request::KeyRotate);
}

#[test]
fn set_password_is_typed_twice_then_confirmed() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('p'));
    assert!(matches!(&app.mode, Mode::Form(f) if f.title().contains("bob")));
    typed(&mut app, "new password");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "new passwrod");
    assert!(sent(&press(&mut app, KeyCode::Enter)).is_empty());
    let Mode::Form(form) = &app.mode else {
        panic!("the form stays open");
    };
    assert_eq!(form.error.as_deref(), Some("the two passwords differ"));
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "ord");
    press(&mut app, KeyCode::Enter);
    let Mode::Confirm(dialog) = &app.mode else {
        panic!("a password reset asks first: {:?}", app.mode);
    };
    assert!(dialog.body.contains("bob") && dialog.body.contains("revoked"));
    let effects = press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        sent(&effects),
        [Request::UserSetPassword {
            name: "bob".into(),
            password: tessera_common::admin::Password("new password".into()),
        }]
    );
}

#[test]
fn add_user_form_checks_roles_and_reports_daemon_errors_in_place() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('a'));
    typed(&mut app, "dave");
    press(&mut app, KeyCode::Down);
    typed(&mut app, "dave@example.com");
    press(&mut app, KeyCode::Down);
    for _ in 0.."user".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "boss");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    typed(&mut app, "pw-123456");
    press(&mut app, KeyCode::Down);
    typed(&mut app, "pw-123456");
    assert!(sent(&press(&mut app, KeyCode::Enter)).is_empty());
    let error = |app: &App| match &app.mode {
        Mode::Form(f) => f.error.clone(),
        other => panic!("form closed: {other:?}"),
    };
    assert_eq!(
        error(&app).as_deref(),
        Some("unknown role \"boss\"; roles: admin, guest, user")
    );
    // Back to the role field (Shift-Tab and Up go back), fix it, submit.
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    for _ in 0..4 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "admin");
    let effects = press(&mut app, KeyCode::Enter);
    assert!(matches!(
        sent(&effects).as_slice(),
        [Request::UserAdd { name, role: Some(role), .. }] if name == "dave" && role == "admin"
    ));
    // The daemon refuses: the form stays, with its message.
    let Some(Effect::Send { id, .. }) = effects.first() else {
        panic!("nothing sent");
    };
    app.update(Event::Response {
        id: *id,
        outcome: Outcome::Error(AdminError::new(ErrorCode::Conflict, "username \"dave\" is taken")),
    });
    assert_eq!(error(&app).as_deref(), Some("username \"dave\" is taken"));
    // Accepted: the form closes, the message says so, lists reload.
    let effects = press(&mut app, KeyCode::Enter);
    let reloads = settle(&mut app, effects);
    assert_eq!(app.mode, Mode::Browsing);
    assert_eq!(app.message.as_ref().map(|m| m.text.as_str()), Some("user dave added"));
    assert!(reloads.contains(&app.list_page(List::Users, None, None)));
}

#[test]
fn role_form_refuses_unknown_roles_and_esc_cancels() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('r'));
    typed(&mut app, "x");
    assert!(sent(&press(&mut app, KeyCode::Enter)).is_empty());
    assert!(matches!(&app.mode, Mode::Form(f) if f.error.as_deref().is_some_and(|e| e.contains("adminx"))));
    typed(&mut app, "q");
    assert!(
        matches!(&app.mode, Mode::Form(f) if f.fields[0].value == "adminxq"),
        "q is text in a form"
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Browsing);
}

#[test]
fn a_new_client_secret_is_shown_once() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('4'));
    press(&mut app, KeyCode::Char('a'));
    assert!(
        sent(&press(&mut app, KeyCode::Enter)).is_empty(),
        "a client id is required"
    );
    typed(&mut app, "billing");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "read write");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "https://billing.example.com/cb http://127.0.0.1/cb");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "y");
    press(&mut app, KeyCode::Tab);
    for _ in "RS256".chars() {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "EdDSA");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        sent(&effects),
        [Request::ClientAdd {
            client_id: "billing".into(),
            scopes: vec!["read".into(), "write".into()],
            redirect_uris: vec!["https://billing.example.com/cb".into(), "http://127.0.0.1/cb".into()],
            post_logout_redirect_uris: vec![],
            public: false,
            first_party: true,
            id_token_signed_response_alg: tessera_common::oauth::IdTokenAlg::EdDSA,
        }]
    );
    settle(&mut app, effects);
    assert!(matches!(&app.mode, Mode::Secret(c) if c.client_secret.as_deref() == Some("tsr_cs_ONLYSHOWNONCE")));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Browsing, "and gone once closed");
}

#[test]
fn a_client_gets_a_new_secret_with_a_grace_after_a_confirmation() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('4'));
    press(&mut app, KeyCode::Char('s'));
    assert!(matches!(&app.mode, Mode::Form(f) if f.title() == "New secret for reports"));
    typed(&mut app, "soon");
    assert!(sent(&press(&mut app, KeyCode::Enter)).is_empty(), "not a duration");
    assert!(matches!(&app.mode, Mode::Form(f) if f.error.as_deref().is_some_and(|e| e.contains("not a duration"))));
    for _ in 0..4 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "1h");
    press(&mut app, KeyCode::Enter);
    assert!(matches!(&app.mode, Mode::Confirm(c) if c.body.contains("works for 1h more")));
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        sent(&effects),
        [Request::ClientRotateSecret {
            client_id: "reports".into(),
            grace_seconds: 3600,
        }]
    );
    settle(&mut app, effects);
    assert!(
        matches!(&app.mode, Mode::Secret(c) if c.client_secret.is_some()),
        "shown once"
    );
}

#[test]
fn enable_and_toggles_send_at_once() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::End);
    assert_eq!(
        sent(&press(&mut app, KeyCode::Char('e'))),
        [Request::UserEnable { name: "carol".into() }]
    );
    press(&mut app, KeyCode::Char('6'));
    assert_eq!(
        sent(&press(&mut app, KeyCode::Char('g'))),
        [Request::GuestSet { enabled: true }]
    );
    assert_eq!(
        sent(&press(&mut app, KeyCode::Char('r'))),
        [Request::RegistrationSet { open: false }]
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(&app.mode, Mode::Confirm(c) if c.title.contains("signing key")));
}

#[test]
fn details_follow_the_selection() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    let effects = press(&mut app, KeyCode::Enter);
    assert!(sent(&effects).contains(&Request::SessionList {
        name: Some("alice".into()),
        search: None,
        page: None,
    }));
    settle(&mut app, effects);
    assert_eq!(app.detail.as_ref().map(|d| d.sessions.len()), Some(1));
    let effects = press(&mut app, KeyCode::Down);
    assert!(sent(&effects).contains(&Request::TokenList {
        name: Some("bob".into()),
        search: None,
        page: None,
    }));
    settle(&mut app, effects);
    let detail = app.detail.clone().unwrap_or_default();
    assert_eq!((detail.user_id.as_str(), detail.tokens.len()), ("id-bob", 1));
    press(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none());
}

#[test]
fn losing_the_daemon_and_getting_it_back() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('a'));
    typed(&mut app, "erin");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "erin@example.com");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "pw");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "pw");
    assert_eq!(sent(&press(&mut app, KeyCode::Enter)).len(), 1);

    app.update(Event::Disconnected("the daemon closed the connection".into()));
    assert!(matches!(app.conn, Conn::Down { .. }));
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("reconnecting"))
    );
    assert!(
        matches!(&app.mode, Mode::Form(f) if !f.waiting && f.error.as_deref().is_some_and(|e| e.contains("lost"))),
        "the form can be sent again"
    );
    assert!(app.update(Event::Tick).is_empty(), "no polling while away");
    app.update(Event::ConnectFailed("cannot reach the daemon at /s: refused".into()));
    assert_eq!(
        app.conn,
        Conn::Down {
            reason: "cannot reach the daemon at /s: refused".into()
        }
    );
    assert_eq!(app.users.rows.len(), 3, "the last data stays on screen");

    let effects = app.update(Event::Connected { daemon: "0.1.1".into() });
    assert_eq!(sent(&effects).first(), Some(&Request::Subscribe), "re-subscribes");
    assert!(app.message.as_ref().is_some_and(|m| m.text == "reconnected"));
    assert_eq!(app.conn, Conn::Up { daemon: "0.1.1".into() });
}

#[test]
fn ticks_poll_activity_without_piling_up() {
    let mut app = connected();
    let first = app.update(Event::Tick);
    assert_eq!(sent(&first), [Request::Activity]);
    assert!(sent(&app.update(Event::Tick)).is_empty(), "the last poll is unanswered");
    settle(&mut app, first);
    assert_eq!(sent(&app.update(Event::Tick)), [Request::Activity]);
}

#[test]
fn pushed_events_are_kept_in_order_without_duplicates() {
    let mut app = App::new("/s");
    let effects = app.update(Event::Connected { daemon: "0.1.0".into() });
    // Events arrive between the subscription and the tail's answer; the tail has
    // seq 1 and 2, so a pushed 2 is the same entry and 3 is new.
    app.update(Event::Pushed(audit_entry(2, "login.failure", "id-bob")));
    app.update(Event::Pushed(audit_entry(3, "logout", "id-alice")));
    settle(&mut app, effects);
    let seqs: Vec<u64> = app.audit.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    app.update(Event::Pushed(audit_entry(3, "logout", "id-alice")));
    app.update(Event::Pushed(audit_entry(4, "login.success", "id-bob")));
    assert_eq!(app.audit.len(), 4);
    // Two events of one moment can arrive out of order: both are kept, in order.
    app.update(Event::Pushed(audit_entry(6, "logout", "id-bob")));
    app.update(Event::Pushed(audit_entry(5, "login.success", "id-alice")));
    app.update(Event::Pushed(audit_entry(5, "login.success", "id-alice")));
    let seqs: Vec<u64> = app.audit.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    // The filter narrows; following keeps the newest selected.
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "login");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.visible_audit().len(), 3);
    assert_eq!(app.audit_selected(), Some(2));
    press(&mut app, KeyCode::Up);
    assert!(!app.follow, "moving up pauses");
    assert_eq!(app.audit_selected(), Some(1));
    press(&mut app, KeyCode::End);
    assert!(app.follow, "End follows again");
}

#[test]
fn activity_makes_lists_stale_and_they_reload_on_a_tick() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    app.update(Event::Pushed(audit_entry(9, "register", "id-dave")));
    let mut reloads = Vec::new();
    for _ in 0..REFRESH_EVERY {
        let effects = app.update(Event::Tick);
        reloads.extend(sent(&effects));
        settle(&mut app, effects);
    }
    assert!(reloads.contains(&app.list_page(List::Users, None, None)), "{reloads:?}");
}

#[test]
fn activity_seen_on_another_screen_reloads_a_list_when_it_is_shown() {
    let mut app = connected();
    // On the Overview (nothing of its own to reload), time passes after a new user.
    app.update(Event::Pushed(audit_entry(9, "register", "id-dave")));
    for _ in 0..2 * REFRESH_EVERY {
        let effects = app.update(Event::Tick);
        assert!(!sent(&effects).contains(&app.list_page(List::Users, None, None)));
        settle(&mut app, effects);
    }
    // Users is fetched as soon as it is shown, and Sessions when it is.
    let effects = press(&mut app, KeyCode::Char('2'));
    assert!(
        sent(&effects).contains(&app.list_page(List::Users, None, None)),
        "{effects:?}"
    );
    settle(&mut app, effects);
    let effects = press(&mut app, KeyCode::Char('3'));
    assert!(
        sent(&effects).contains(&app.list_page(List::Sessions, None, None)),
        "{effects:?}"
    );
    settle(&mut app, effects);
    // Shown again with nothing new: no fetch.
    let effects = press(&mut app, KeyCode::Char('2'));
    assert!(sent(&effects).is_empty(), "{effects:?}");
}

#[test]
fn an_entry_during_a_fetch_in_flight_fetches_again() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    app.update(Event::Pushed(audit_entry(9, "register", "id-dave")));
    let mut first = Vec::new();
    for _ in 0..REFRESH_EVERY {
        first.extend(app.update(Event::Tick));
    }
    assert!(sent(&first).contains(&app.list_page(List::Users, None, None)));
    // Another user registers before that fetch is answered: the answer may not have
    // them, so Users is fetched once more.
    app.update(Event::Pushed(audit_entry(10, "register", "id-erin")));
    settle(&mut app, first);
    let mut again = Vec::new();
    for _ in 0..REFRESH_EVERY {
        let effects = app.update(Event::Tick);
        again.extend(sent(&effects));
        settle(&mut app, effects);
    }
    assert!(again.contains(&app.list_page(List::Users, None, None)), "{again:?}");
}

#[test]
fn quitting() {
    let mut app = connected();
    assert_eq!(press(&mut app, KeyCode::Char('q')), [Effect::Quit]);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('a'));
    let ctrl_c = app.update(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert_eq!(ctrl_c, [Effect::Quit], "Ctrl-C quits even from a form");
    assert_eq!(app.update(Event::Quit), [Effect::Quit]);
}

#[test]
fn daemon_errors_go_to_the_message_bar() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('2'));
    let effects = press(&mut app, KeyCode::Char('e'));
    let Some(Effect::Send { id, .. }) = effects.first() else {
        panic!("enable sends at once");
    };
    app.update(Event::Response {
        id: *id,
        outcome: Outcome::Error(AdminError::new(ErrorCode::NotFound, "no user \"alice\"")),
    });
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.error && m.text == "no user \"alice\"")
    );
    for _ in 0..MESSAGE_TICKS {
        app.update(Event::Tick);
    }
    assert!(app.message.is_none(), "messages fade");
}

/// A console on the Users screen of the fixture daemon, asking for pages of two.
fn on_users_two_at_a_time() -> App {
    let mut app = App::new("/s");
    app.page_size = 2;
    let effects = app.update(Event::Connected { daemon: "0.1.0".into() });
    settle(&mut app, effects);
    press(&mut app, KeyCode::Char('2'));
    app
}

#[test]
fn the_users_list_fetches_the_next_page_as_the_selection_nears_its_end() {
    let mut app = on_users_two_at_a_time();
    assert_eq!(usernames(&app), ["alice", "bob"], "the first page");
    assert!(app.users.more);
    // Moving down nears the end: the page after bob is asked for, once.
    let effects = press(&mut app, KeyCode::Down);
    let asked: Vec<Request> = sent(&effects)
        .into_iter()
        .filter(|r| matches!(r, Request::UserList { .. }))
        .collect();
    assert_eq!(asked, [app.list_page(List::Users, Some("bob".into()), None)]);
    assert!(
        sent(&press(&mut app, KeyCode::Up))
            .iter()
            .all(|r| !matches!(r, Request::UserList { .. })),
        "not again while it is on its way"
    );
    settle(&mut app, effects);
    assert_eq!(usernames(&app), ["alice", "bob", "carol"]);
    assert!(!app.users.more, "that was the last page");
    let effects = press(&mut app, KeyCode::End);
    assert!(sent(&effects).iter().all(|r| !matches!(r, Request::UserList { .. })));
    // A refresh brings the first page again and keeps the rows after it.
    let effects = press(&mut app, KeyCode::F(5));
    assert!(sent(&effects).contains(&app.list_page(List::Users, None, None)));
    settle(&mut app, effects);
    assert_eq!(usernames(&app), ["alice", "bob", "carol"]);
    // The daemon says more follow its first page: whether any lie past carol is
    // asked when the selection nears the end, and the answer settles it.
    assert!(app.users.more);
    let effects = press(&mut app, KeyCode::End);
    assert_eq!(
        sent(&effects)
            .into_iter()
            .filter(|r| matches!(r, Request::UserList { .. }))
            .collect::<Vec<_>>(),
        [app.list_page(List::Users, Some("carol".into()), None)]
    );
    settle(&mut app, effects);
    assert_eq!(usernames(&app), ["alice", "bob", "carol"]);
    assert!(!app.users.more);
}

#[test]
fn a_kept_search_goes_to_the_daemon_when_not_every_user_is_loaded() {
    let mut app = on_users_two_at_a_time();
    assert_eq!(usernames(&app), ["alice", "bob"]);
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "car");
    assert!(usernames(&app).is_empty(), "carol is not loaded yet");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        sent(&effects),
        [Request::UserList {
            search: Some("car".into()),
            page: Some(tessera_common::admin::Page { limit: 2, after: None }),
        }]
    );
    settle(&mut app, effects);
    assert_eq!(usernames(&app), ["carol"], "found by the daemon");
    // Cleared: every user's first page again.
    let effects = press(&mut app, KeyCode::Esc);
    assert_eq!(sent(&effects), [app.list_page(List::Users, None, None)]);
    settle(&mut app, effects);
    assert_eq!(usernames(&app), ["alice", "bob"]);
    assert!(app.users.more);
    // With every user loaded, a search stays in the console.
    let mut all = connected();
    press(&mut all, KeyCode::Char('2'));
    press(&mut all, KeyCode::Char('/'));
    typed(&mut all, "car");
    assert!(sent(&press(&mut all, KeyCode::Enter)).is_empty());
    assert_eq!(usernames(&all), ["carol"]);
}

/// A console on the Sessions screen of the fixture daemon, asking for pages of one.
fn on_sessions_one_at_a_time() -> App {
    let mut app = App::new("/s");
    app.page_size = 1;
    let effects = app.update(Event::Connected { daemon: "0.1.0".into() });
    settle(&mut app, effects);
    press(&mut app, KeyCode::Char('3'));
    app
}

fn session_rows(app: &App) -> Vec<String> {
    let (sessions, tokens) = app.visible_sessions();
    sessions
        .iter()
        .map(|s| s.id.clone())
        .chain(tokens.iter().map(|t| t.token.id.clone()))
        .collect()
}

#[test]
fn the_sessions_screen_fetches_sessions_then_tokens_as_the_selection_nears_the_end() {
    let mut app = on_sessions_one_at_a_time();
    assert_eq!(session_rows(&app), ["sess-0-alice", "tok-ci"], "a page of each");
    assert!(app.sessions.more);
    assert_eq!(app.sessions_total(), 2, "the store's count, not the loaded rows");
    // Nearing the end asks for the sessions after the last one loaded, once.
    let effects = press(&mut app, KeyCode::Down);
    assert_eq!(
        sent(&effects),
        [app.list_page(List::Sessions, Some("sess-0-alice".into()), None)]
    );
    assert!(
        sent(&press(&mut app, KeyCode::Up)).is_empty(),
        "not again while on its way"
    );
    settle(&mut app, effects);
    assert_eq!(session_rows(&app), ["sess-0-alice", "sess-1-bob", "tok-ci"]);
    assert!(!app.sessions.more, "that was the last page");
    assert!(!app.tokens.more, "one token");
    assert!(sent(&press(&mut app, KeyCode::End)).is_empty(), "everything is loaded");
}

#[test]
fn a_kept_search_on_the_sessions_screen_goes_to_the_daemon_for_both_lists() {
    let mut app = on_sessions_one_at_a_time();
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "bo");
    assert_eq!(session_rows(&app), ["tok-ci"], "bob's session is not loaded yet");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        sent(&effects),
        [
            app.list_page(List::Sessions, None, Some("bo".into())),
            app.list_page(List::Tokens, None, Some("bo".into())),
        ]
    );
    settle(&mut app, effects);
    assert_eq!(session_rows(&app), ["sess-1-bob", "tok-ci"], "found by the daemon");
    assert_eq!(app.sessions_total(), 1, "a search's total is what it found");
    // A refresh asks the same search again.
    let effects = press(&mut app, KeyCode::F(5));
    assert!(sent(&effects).contains(&app.list_page(List::Sessions, None, Some("bo".into()))));
    settle(&mut app, effects);
    assert_eq!(session_rows(&app), ["sess-1-bob", "tok-ci"]);
    // Cleared: the first pages again.
    let effects = press(&mut app, KeyCode::Esc);
    assert_eq!(
        sent(&effects),
        [
            app.list_page(List::Sessions, None, None),
            app.list_page(List::Tokens, None, None),
        ]
    );
    settle(&mut app, effects);
    assert_eq!(session_rows(&app), ["sess-0-alice", "tok-ci"]);
    assert!(app.sessions.more);
}

#[test]
fn enter_on_the_audit_screen_opens_the_selected_entry_whole() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(&app.mode, Mode::Entry(e) if e.seq == 2 && e.event == "login.failure"),
        "the newest while following: {:?}",
        app.mode
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Browsing);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(&app.mode, Mode::Entry(e) if e.seq == 1), "{:?}", app.mode);
}
