//! Every screen and dialog drawn with ratatui's `TestBackend` at 80×24 and 160×48,
//! checked on the buffer's text.

use super::*;
use crate::app::{Event, Mode};
use crate::testing::{connected, settle};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn render(app: &App, theme: Theme, (w, h): (u16, u16)) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|frame| draw(frame, app, theme)).unwrap();
    terminal.backend().buffer().clone()
}

fn lines(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (0..area.height)
        .map(|y| (0..area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>())
        .collect()
}

fn screen_text(app: &App, size: (u16, u16)) -> String {
    lines(&render(app, Theme::new(true), size)).join("\n")
}

fn press(app: &mut App, code: KeyCode) {
    let effects = app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    settle(app, effects);
}

fn on(screen: char) -> App {
    let mut app = connected();
    press(&mut app, KeyCode::Char(screen));
    app
}

fn assert_has(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "missing {w:?} in\n{text}");
    }
}

#[test]
fn tab_bar_status_and_footer_on_every_screen_and_size() {
    for size in SIZES {
        for (i, screen) in ['1', '2', '3', '4', '5', '6'].into_iter().enumerate() {
            let app = on(screen);
            let buffer = render(&app, Theme::new(true), size);
            let text = lines(&buffer);
            assert_has(
                &text[0],
                &[
                    "1 Overview",
                    "2 Users",
                    "3 Sessions & tokens",
                    "4 Clients",
                    "5 Audit",
                    "6 Settings",
                ],
            );
            // The selected tab is highlighted.
            let title = Screen::ALL[i].title();
            let x = text[0].find(title).map(|b| text[0][..b].chars().count()).unwrap_or(0) as u16;
            assert!(
                buffer[(x, 0)].modifier.contains(Modifier::REVERSED),
                "tab {title} not highlighted at {size:?}"
            );
            let bottom = text[text.len() - 3..].join("\n");
            assert_has(&bottom, &["● connected", "q quit", "? help"]);
        }
    }
}

#[test]
fn overview_shows_facts_and_every_chart() {
    let mut app = connected();
    // Two polls make a rate.
    for (uptime, logins) in [(3725, 40), (3726, 47)] {
        let effects = app.update(Event::Tick);
        for effect in effects {
            if let crate::app::Effect::Send { id, .. } = effect {
                let outcome = tessera_common::admin::Outcome::Ok(tessera_common::admin::Reply::Activity(
                    crate::testing::activity(uptime, logins),
                ));
                app.update(Event::Response { id, outcome });
            }
        }
    }
    for size in SIZES {
        let text = screen_text(&app, size);
        assert_has(
            &text,
            &[
                "connected to tesserad 0.1.0",
                "up 1h 02m",
                "guest mode",
                "off",
                "registration open",
                "3 users",
                "2 live sessions",
                "k4.pid.ACTIVEKEY",
                "k4.pid.RETIRINGKEY",
                "logins ok/s",
                "logins failed/s",
                "tokens issued/s",
                "refreshes/s",
                "reuse detected/s",
                "revocations/s",
                "live sessions",
                "argon2 queue",
            ],
        );
        let logins = text.lines().find(|l| l.contains("logins ok/s")).unwrap_or_default();
        assert!(logins.contains(" 7 "), "7 logins in the last second: {logins}");
    }
}

#[test]
fn users_table_search_and_details() {
    let mut app = on('2');
    for size in SIZES {
        let text = screen_text(&app, size);
        assert_has(
            &text,
            &[
                "Users (3)",
                "USERNAME",
                "EMAIL",
                "VERIFIED",
                "ROLE",
                "STATE",
                "CREATED",
                "LAST LOGIN",
                "alice@example.com",
                "disabled",
                "2026-11-27 10:15",
                "d disable",
                "D delete",
                "/ search",
            ],
        );
    }
    press(&mut app, KeyCode::Char('/'));
    for c in "car".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let text = screen_text(&app, (80, 24));
    assert_has(
        &text,
        &["Users (1 of 3) search: car▏", "carol", "Enter keep", "Esc clear"],
    );
    assert!(!text.contains("bob@"), "{text}");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    for size in SIZES {
        let text = screen_text(&app, size);
        assert_has(
            &text,
            &["carol (Enter or Esc closes)", "sessions (0)", "API tokens (0)"],
        );
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let text = screen_text(&app, (160, 48));
    assert_has(&text, &["bob (Enter or Esc closes)", "tok-ci \"ci\"", "sess-1-bob"]);
    // Many sessions share the pane with the API tokens instead of hiding them, also
    // when the user's lines wrap (ids as long as real ones).
    if let Some(detail) = app.detail.as_mut() {
        let one = detail.sessions[0].clone();
        detail.sessions = vec![one; 17];
    }
    if let Some(bob) = app.users.rows.iter_mut().find(|u| u.user.username == "bob") {
        bob.user.id = "0196d0e4-0000-7000-8000-000000000000".into();
        bob.user.display_name = "Robert the Builder of Very Long Names".into();
    }
    for size in SIZES {
        assert_has(
            &screen_text(&app, size),
            &["sessions (17)", "API tokens (1)", "tok-ci \"ci\""],
        );
    }
    assert_has(&screen_text(&app, (80, 24)), &["more: tessera session list bob"]);
}

#[test]
fn sessions_clients_audit_and_settings_rows() {
    for size in SIZES {
        assert_has(
            &screen_text(&on('3'), size),
            &[
                "Live sessions (2)",
                "sess-0-alice",
                "API tokens (1 of 1)",
                "tok-ci",
                "x revoke",
                // Kind, client and both times stay in view at 80 columns.
                "KIND",
                "CLIENT",
                "2026-11-27 10:10",
                "2026-12-27 10:15",
            ],
        );
        assert_has(
            &screen_text(&on('4'), size),
            &["OAuth clients (1)", "reports", "a add", "x remove"],
        );
        // Audit subjects show the username when the console knows the id.
        assert_has(
            &screen_text(&on('5'), size),
            &[
                "Audit (2)",
                "following",
                "register",
                "login.failure",
                "alice",
                "f pause/follow",
                "/ filter",
            ],
        );
        assert_has(
            &screen_text(&on('6'), size),
            &[
                "guest mode",
                "registration",
                "signing key",
                "roles: admin, guest, user",
                "k4.pid.ACTIVEKEY",
                "retiring",
                "g guest on/off",
                "k rotate key",
            ],
        );
    }
}

#[test]
fn confirmation_form_and_secret_dialogs() {
    let mut app = on('2');
    press(&mut app, KeyCode::Char('D'));
    for size in SIZES {
        assert_has(
            &screen_text(&app, size),
            &[
                "Delete user",
                "Delete alice (alice@example.com)?",
                "Enter/y confirm",
                "Esc/n cancel",
            ],
        );
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('a'));
    for c in "dave".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    for _ in 0..4 {
        press(&mut app, KeyCode::Tab);
    }
    for c in "s3cret!".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    for size in SIZES {
        let text = screen_text(&app, size);
        assert_has(
            &text,
            &[
                "Add user",
                "Username",
                "dave",
                "Password",
                "•••••••",
                "the email address needs an @",
                "Enter submit",
                "one of: admin, guest, user",
            ],
        );
        assert!(!text.contains("s3cret"), "passwords are masked");
    }
    // Labels keep to their column, however long the longest.
    let mut form = on('4');
    press(&mut form, KeyCode::Char('a'));
    press(&mut form, KeyCode::Char('w'));
    press(&mut form, KeyCode::Tab);
    press(&mut form, KeyCode::Tab);
    for c in "https://app.example/cb".chars() {
        press(&mut form, KeyCode::Char(c));
    }
    let text = screen_text(&form, (160, 48));
    assert_has(&text, &["https://app.example/cb"]);
    let label_end = |label: &str| {
        let line = text.lines().find(|l| l.contains(label)).unwrap_or_default();
        line.find(label)
            .map(|at| line[at + label.len()..].chars().take(2).collect::<String>())
    };
    for label in ["Client id", "Redirect URIs (space-separated, optional)"] {
        assert_eq!(
            label_end(label).as_deref(),
            Some("  "),
            "{label} runs into its value:\n{text}"
        );
    }
    let mut app = on('4');
    press(&mut app, KeyCode::Char('a'));
    for c in "billing".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.mode, Mode::Secret(_)));
    for size in SIZES {
        assert_has(
            &screen_text(&app, size),
            &[
                "OAuth client",
                "tsr_cs_ONLYSHOWNONCE",
                "will not be shown again",
                "Esc/Enter/? close",
            ],
        );
    }
}

#[test]
fn help_lists_every_binding() {
    let mut app = on('2');
    press(&mut app, KeyCode::Char('?'));
    let text = screen_text(&app, (160, 48));
    for (_, entries) in keymap::help_sections() {
        for (_, label) in entries {
            assert!(text.contains(label), "{label} missing from the overlay\n{text}");
        }
    }
    // At 80×24 it scrolls: the last section comes into view.
    let top = screen_text(&app, (80, 24));
    for _ in 0..40 {
        press(&mut app, KeyCode::Down);
    }
    let scrolled = screen_text(&app, (80, 24));
    assert_ne!(top, scrolled);
    assert_has(&scrolled, &["Help and notices"]);
}

#[test]
fn reconnecting_is_shown() {
    let mut app = connected();
    app.update(Event::Disconnected("the daemon closed the connection".into()));
    app.update(Event::ConnectFailed(
        "cannot reach the daemon at /run/tessera/admin.sock: No such file".into(),
    ));
    for size in SIZES {
        assert_has(
            &screen_text(&app, size),
            &["○ reconnecting", "/run/tessera/admin.sock", "reconnecting"],
        );
    }
    // At 80 columns the status wraps rather than cutting the reason short.
    let mut narrow = App::new("/run/tessera/admin.sock");
    narrow.update(Event::ConnectFailed(
        "cannot reach the daemon at /run/tessera/admin.sock: No such file".into(),
    ));
    let text = screen_text(&narrow, (80, 24));
    assert_has(&text, &["admin.sock:", "file); retrying every second"]);
}

#[test]
fn the_key_overlay_repeats_a_section_title_in_a_column_that_starts_inside_it() {
    let mut app = connected();
    press(&mut app, KeyCode::Char('?'));
    let text = screen_text(&app, (80, 24));
    // Every column of the overlay starts with a title: the first row inside its
    // border holds no key.
    let first_row = text.lines().find(|l| l.contains("Everywhere")).unwrap_or_default();
    let titles: Vec<String> = crate::keymap::help_sections().into_iter().map(|(t, _)| t).collect();
    for cell in first_row.trim_matches(|c| c == '┌' || c == '┐' || c == '│').split("  ") {
        let cell = cell.trim().trim_end_matches(" (more)");
        assert!(
            cell.is_empty() || titles.iter().any(|t| t == cell),
            "a column starts with {cell:?}, not a title: {first_row:?}"
        );
    }
    for _ in 0..40 {
        press(&mut app, KeyCode::Down);
    }
    let end = screen_text(&app, (80, 24));
    assert_has(&end, &["Users columns", "VERIFIED", "email address confirmed"]);
}

#[test]
fn the_status_line_counts_the_rows_it_wraps_to() {
    let line = |t: &str| Line::from(t.to_owned());
    assert_eq!(wrapped_rows(&line("a b"), 10), 1);
    assert_eq!(wrapped_rows(&line("aaaa bbbb cccc"), 10), 2);
    assert_eq!(wrapped_rows(&line(&"x".repeat(25)), 10), 3, "a long word is cut");
    assert_eq!(wrapped_rows(&line(&"x".repeat(50)), 10), 3, "at most 3");
}

#[test]
fn an_audit_entry_opens_with_its_whole_detail() {
    let mut app = on('5');
    if let Some(last) = app.audit.back_mut() {
        last.detail = Some(format!("{} and the end", "a long detail ".repeat(12)));
    }
    press(&mut app, KeyCode::Enter);
    for size in SIZES {
        assert_has(
            &screen_text(&app, size),
            &["Audit entry", "login.failure", "and the end"],
        );
    }
}

#[test]
fn no_color_means_no_colour_attributes() {
    let colour_cells = |buffer: &Buffer| {
        buffer
            .content
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset || c.underline_color != Color::Reset)
            .count()
    };
    let mut apps = Vec::new();
    for screen in ['1', '2', '3', '4', '5', '6'] {
        apps.push(on(screen));
    }
    let mut dialog = on('2');
    press(&mut dialog, KeyCode::Char('a'));
    apps.push(dialog);
    let mut help = on('1');
    press(&mut help, KeyCode::Char('?'));
    apps.push(help);
    for app in &apps {
        for size in SIZES {
            assert!(
                colour_cells(&render(app, Theme::new(true), size)) > 0,
                "the colour theme colours"
            );
            let plain = render(app, Theme::new(false), size);
            assert_eq!(colour_cells(&plain), 0, "{:?} at {size:?} has colour", app.screen);
            // The selection is still visible without colour.
            if app.screen == Screen::Users {
                assert!(plain.content.iter().any(|c| c.modifier.contains(Modifier::REVERSED)));
            }
        }
    }
}

#[test]
fn a_long_audit_trail_shows_the_window_around_the_selection() {
    let mut app = on('5');
    for seq in 3..=300 {
        app.update(Event::Pushed(crate::testing::audit_entry(
            seq,
            &format!("event.{seq}"),
            "id-bob",
        )));
    }
    let text = screen_text(&app, (80, 24));
    assert_has(&text, &["Audit (300)", "event.300", "following"]);
    assert!(!text.contains("event.250"), "{text}");
    press(&mut app, KeyCode::Home);
    let text = screen_text(&app, (80, 24));
    assert_has(&text, &["register", "login.failure", "event.3 ", "paused"]);
    assert!(!text.contains("event.300"), "{text}");
}
