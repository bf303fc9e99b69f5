//! The console's key table: every key, what it does, its label and where it works.
//! Key handling ([`lookup`]), the footer ([`footer`]) and the `?` overlay
//! ([`help_sections`]) all read [`BINDINGS`], so they cannot drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The six screens, in tab order (see README, "Full screen").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Live counters and daemon facts.
    Overview,
    /// Accounts.
    Users,
    /// Live sessions and API tokens.
    Sessions,
    /// OAuth clients.
    Clients,
    /// The audit trail, live.
    Audit,
    /// Guest mode, registration, signing keys.
    Settings,
}

impl Screen {
    /// Every screen, in tab order.
    pub const ALL: [Screen; 6] = [
        Screen::Overview,
        Screen::Users,
        Screen::Sessions,
        Screen::Clients,
        Screen::Audit,
        Screen::Settings,
    ];

    /// The tab's name.
    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Users => "Users",
            Screen::Sessions => "Sessions & tokens",
            Screen::Clients => "Clients",
            Screen::Audit => "Audit",
            Screen::Settings => "Settings",
        }
    }

    /// Position in [`Screen::ALL`].
    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The screen `steps` tabs away, wrapping around.
    pub fn cycle(self, steps: isize) -> Screen {
        let n = Screen::ALL.len() as isize;
        let i = (self.index() as isize + steps).rem_euclid(n);
        Screen::ALL[i as usize]
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Show or hide the key overlay.
    Help,
    /// Next tab.
    NextScreen,
    /// Previous tab.
    PrevScreen,
    /// The tab whose digit was pressed.
    GoTo,
    /// Selection up one row.
    Up,
    /// Selection down one row.
    Down,
    /// Selection up one page.
    PageUp,
    /// Selection down one page.
    PageDown,
    /// First row.
    Home,
    /// Last row (on the audit screen: follow new entries again).
    End,
    /// Open the selection (user details, a setting).
    Open,
    /// Start typing a search or filter.
    Search,
    /// Clear the search, or close the details pane.
    Clear,
    /// Fetch everything again.
    Reload,
    /// New user form.
    AddUser,
    /// Change the selected user's role.
    SetRole,
    /// Disable the selected user.
    Disable,
    /// Enable the selected user.
    Enable,
    /// Set the selected user's password.
    SetPassword,
    /// Revoke every session of the selected user.
    RevokeAll,
    /// Mail the selected user a verification link.
    SendVerification,
    /// Mail the selected user a password-reset link.
    SendReset,
    /// Delete the selected user.
    DeleteUser,
    /// Revoke the selected session or API token.
    Revoke,
    /// New OAuth client form.
    AddClient,
    /// Give the selected client a new secret.
    RotateSecret,
    /// Remove the selected client.
    RemoveClient,
    /// Pause or resume following the audit trail.
    Follow,
    /// Guest mode on or off.
    ToggleGuest,
    /// Registration open or closed.
    ToggleRegistration,
    /// Make a new signing key.
    RotateKey,
    /// Confirm a dialog, submit a form, keep a search.
    Confirm,
    /// Close a dialog, form, search or overlay.
    Cancel,
    /// Next form field.
    NextField,
    /// Previous form field.
    PrevField,
}

/// Where a binding works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// In every mode, dialogs included.
    Always,
    /// Browsing, on these screens (empty: every screen).
    Browsing(&'static [Screen]),
    /// In a confirmation dialog.
    Confirming,
    /// In a form.
    Form,
    /// While typing a search or filter.
    Searching,
    /// While a notice (help overlay, one-time secret) is open.
    Notice,
}

/// A key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt, … (Shift is part of the character for letters).
    pub mods: KeyModifiers,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

/// One row of the key table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// What it does.
    pub action: Action,
    /// The keys (any of them).
    pub keys: &'static [Key],
    /// Short label, as in the footer: `d disable`.
    pub label: &'static str,
    /// Where it works.
    pub when: When,
    /// Listed in the footer (every binding is listed in the overlay).
    pub footer: bool,
}

const LISTS: &[Screen] = &[
    Screen::Users,
    Screen::Sessions,
    Screen::Clients,
    Screen::Audit,
    Screen::Settings,
];
const SEARCHABLE: &[Screen] = &[Screen::Users, Screen::Sessions, Screen::Clients];
const FILTERABLE: &[Screen] = &[Screen::Users, Screen::Sessions, Screen::Clients, Screen::Audit];

const fn bind(action: Action, keys: &'static [Key], label: &'static str, when: When, footer: bool) -> Binding {
    Binding {
        action,
        keys,
        label,
        when,
        footer,
    }
}

/// The key table.
pub const BINDINGS: &[Binding] = &[
    bind(Action::Quit, &[ctrl('c')], "quit", When::Always, false),
    bind(Action::Quit, &[ch('q')], "quit", When::Browsing(&[]), true),
    bind(Action::Help, &[ch('?')], "help", When::Browsing(&[]), true),
    bind(
        Action::NextScreen,
        &[key(KeyCode::Tab)],
        "next screen",
        When::Browsing(&[]),
        false,
    ),
    bind(
        Action::PrevScreen,
        &[key(KeyCode::BackTab)],
        "previous screen",
        When::Browsing(&[]),
        false,
    ),
    bind(
        Action::GoTo,
        &[ch('1'), ch('2'), ch('3'), ch('4'), ch('5'), ch('6')],
        "go to screen",
        When::Browsing(&[]),
        false,
    ),
    bind(Action::Up, &[key(KeyCode::Up)], "move up", When::Browsing(LISTS), false),
    bind(
        Action::Down,
        &[key(KeyCode::Down)],
        "move down",
        When::Browsing(LISTS),
        false,
    ),
    bind(
        Action::PageUp,
        &[key(KeyCode::PageUp)],
        "page up",
        When::Browsing(LISTS),
        false,
    ),
    bind(
        Action::PageDown,
        &[key(KeyCode::PageDown)],
        "page down",
        When::Browsing(LISTS),
        false,
    ),
    bind(
        Action::Home,
        &[key(KeyCode::Home)],
        "first",
        When::Browsing(LISTS),
        false,
    ),
    bind(Action::End, &[key(KeyCode::End)], "last", When::Browsing(LISTS), false),
    bind(
        Action::Reload,
        &[key(KeyCode::F(5)), ctrl('r')],
        "reload",
        When::Browsing(&[]),
        false,
    ),
    bind(Action::Search, &[ch('/')], "search", When::Browsing(SEARCHABLE), true),
    bind(
        Action::Search,
        &[ch('/')],
        "filter",
        When::Browsing(&[Screen::Audit]),
        true,
    ),
    bind(
        Action::Clear,
        &[key(KeyCode::Esc)],
        "clear search",
        When::Browsing(FILTERABLE),
        false,
    ),
    // Users
    bind(
        Action::Open,
        &[key(KeyCode::Enter)],
        "details",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::AddUser,
        &[ch('a')],
        "add",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::SetRole,
        &[ch('r')],
        "role",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::Disable,
        &[ch('d')],
        "disable",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::Enable,
        &[ch('e')],
        "enable",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::SetPassword,
        &[ch('p')],
        "password",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::RevokeAll,
        &[ch('x')],
        "revoke sessions",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::DeleteUser,
        &[ch('D')],
        "delete",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::SendVerification,
        &[ch('v')],
        "mail verification",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    bind(
        Action::SendReset,
        &[ch('m')],
        "mail reset link",
        When::Browsing(&[Screen::Users]),
        true,
    ),
    // Sessions & tokens
    bind(
        Action::Revoke,
        &[ch('x')],
        "revoke",
        When::Browsing(&[Screen::Sessions]),
        true,
    ),
    // Clients
    bind(
        Action::AddClient,
        &[ch('a')],
        "add",
        When::Browsing(&[Screen::Clients]),
        true,
    ),
    bind(
        Action::RemoveClient,
        &[ch('x')],
        "remove",
        When::Browsing(&[Screen::Clients]),
        true,
    ),
    bind(
        Action::RotateSecret,
        &[ch('s')],
        "new secret",
        When::Browsing(&[Screen::Clients]),
        true,
    ),
    // Audit
    bind(
        Action::Follow,
        &[ch('f')],
        "pause/follow",
        When::Browsing(&[Screen::Audit]),
        true,
    ),
    bind(
        Action::Open,
        &[key(KeyCode::Enter)],
        "open entry",
        When::Browsing(&[Screen::Audit]),
        true,
    ),
    // Settings
    bind(
        Action::Open,
        &[key(KeyCode::Enter)],
        "change",
        When::Browsing(&[Screen::Settings]),
        true,
    ),
    bind(
        Action::ToggleGuest,
        &[ch('g')],
        "guest on/off",
        When::Browsing(&[Screen::Settings]),
        true,
    ),
    bind(
        Action::ToggleRegistration,
        &[ch('r')],
        "registration",
        When::Browsing(&[Screen::Settings]),
        true,
    ),
    bind(
        Action::RotateKey,
        &[ch('k')],
        "rotate key",
        When::Browsing(&[Screen::Settings]),
        true,
    ),
    // Dialogs
    bind(
        Action::Confirm,
        &[key(KeyCode::Enter), ch('y')],
        "confirm",
        When::Confirming,
        true,
    ),
    bind(
        Action::Cancel,
        &[key(KeyCode::Esc), ch('n')],
        "cancel",
        When::Confirming,
        true,
    ),
    bind(
        Action::NextField,
        &[key(KeyCode::Tab), key(KeyCode::Down)],
        "next field",
        When::Form,
        true,
    ),
    bind(
        Action::PrevField,
        &[key(KeyCode::BackTab), key(KeyCode::Up)],
        "previous field",
        When::Form,
        true,
    ),
    bind(Action::Confirm, &[key(KeyCode::Enter)], "submit", When::Form, true),
    bind(Action::Cancel, &[key(KeyCode::Esc)], "cancel", When::Form, true),
    bind(Action::Confirm, &[key(KeyCode::Enter)], "keep", When::Searching, true),
    bind(Action::Cancel, &[key(KeyCode::Esc)], "clear", When::Searching, true),
    bind(
        Action::Cancel,
        &[key(KeyCode::Esc), key(KeyCode::Enter), ch('?')],
        "close",
        When::Notice,
        true,
    ),
    bind(Action::Up, &[key(KeyCode::Up)], "scroll up", When::Notice, false),
    bind(Action::Down, &[key(KeyCode::Down)], "scroll down", When::Notice, false),
];

/// Whether `binding` works in `when` (for browsing: on `screen`).
fn applies(binding: &Binding, when: When, screen: Screen) -> bool {
    match (binding.when, when) {
        (When::Always, _) => true,
        (When::Browsing(screens), When::Browsing(_)) => screens.is_empty() || screens.contains(&screen),
        (a, b) => a == b,
    }
}

/// Whether `key` is `event` (Shift is ignored: it is in the character already).
fn matches(key: &Key, event: &KeyEvent) -> bool {
    let mods = event.modifiers - KeyModifiers::SHIFT;
    match (key.code, event.code) {
        (KeyCode::Char(a), KeyCode::Char(b)) => a == b && key.mods == mods,
        (a, b) => a == b && key.mods == mods,
    }
}

/// The action `event` triggers in `when` on `screen`, if any.
pub fn lookup(event: &KeyEvent, when: When, screen: Screen) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| applies(b, when, screen))
        .find(|b| b.keys.iter().any(|k| matches(k, event)))
        .map(|b| b.action)
}

/// How a key is written: `q`, `Ctrl-C`, `Enter`, `↑`.
pub fn key_name(key: &Key) -> String {
    let name = match key.code {
        KeyCode::Char(' ') => "Space".into(),
        KeyCode::Char(c) if key.mods.contains(KeyModifiers::CONTROL) => c.to_ascii_uppercase().to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "Shift-Tab".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    if key.mods.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{name}")
    } else {
        name
    }
}

/// The keys of a binding, written together: `Enter/y`, `1-6`.
pub fn keys_name(binding: &Binding) -> String {
    if binding.action == Action::GoTo {
        return format!(
            "{}-{}",
            binding.keys.first().map(key_name).unwrap_or_default(),
            binding.keys.last().map(key_name).unwrap_or_default()
        );
    }
    binding.keys.iter().map(key_name).collect::<Vec<_>>().join("/")
}

/// The footer's `key label` pairs for `when` on `screen`.
pub fn footer(when: When, screen: Screen) -> Vec<(String, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.footer && b.when != When::Always && applies(b, when, screen))
        .map(|b| (keys_name(b), b.label))
        .collect()
}

/// The overlay: a titled section per context, each a list of `key label` pairs.
pub fn help_sections() -> Vec<(String, Vec<(String, &'static str)>)> {
    let mut sections: Vec<(String, Vec<(String, &'static str)>)> = Vec::new();
    for binding in BINDINGS {
        let title = match binding.when {
            When::Always | When::Browsing(&[]) => "Everywhere".to_owned(),
            When::Browsing(screens) if screens == LISTS => "Lists".to_owned(),
            When::Browsing(screens) if screens == SEARCHABLE || screens == FILTERABLE => "Searchable lists".to_owned(),
            When::Browsing(screens) => screens.iter().map(|s| s.title()).collect::<Vec<_>>().join(", "),
            When::Confirming => "Confirmation".to_owned(),
            When::Form => "Forms".to_owned(),
            When::Searching => "Search".to_owned(),
            When::Notice => "Help and notices".to_owned(),
        };
        let entry = (keys_name(binding), binding.label);
        match sections.iter_mut().find(|(t, _)| *t == title) {
            Some((_, entries)) => entries.push(entry),
            None => sections.push((title, vec![entry])),
        }
    }
    sections
}

/// The key table as Markdown (README.md carries it; a test keeps the two equal).
pub fn markdown() -> String {
    let mut out = String::from("| keys | action | where |\n|---|---|---|\n");
    for (title, entries) in help_sections() {
        for (keys, label) in entries {
            out.push_str(&format!("| `{keys}` | {label} | {title} |\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn one_action_per_key_in_each_context() {
        let contexts = [When::Confirming, When::Form, When::Searching, When::Notice];
        for screen in Screen::ALL {
            for when in contexts.iter().copied().chain([When::Browsing(&[])]) {
                let live: Vec<&Binding> = BINDINGS.iter().filter(|b| applies(b, when, screen)).collect();
                for (i, a) in live.iter().enumerate() {
                    for b in &live[i + 1..] {
                        let clash = a.keys.iter().any(|k| b.keys.contains(k));
                        assert!(
                            !clash || a.action == b.action,
                            "{a:?} and {b:?} share a key on {screen:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn lookup_respects_screens_and_modifiers() {
        let d = press(KeyCode::Char('d'), KeyModifiers::NONE);
        assert_eq!(lookup(&d, When::Browsing(&[]), Screen::Users), Some(Action::Disable));
        assert_eq!(lookup(&d, When::Browsing(&[]), Screen::Clients), None);
        let shift_d = press(KeyCode::Char('D'), KeyModifiers::SHIFT);
        assert_eq!(
            lookup(&shift_d, When::Browsing(&[]), Screen::Users),
            Some(Action::DeleteUser)
        );
        let ctrl_c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&ctrl_c, When::Form, Screen::Users), Some(Action::Quit));
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(&q, When::Form, Screen::Users), None, "q is text in a form");
        let r = press(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(
            lookup(&r, When::Browsing(&[]), Screen::Settings),
            Some(Action::ToggleRegistration)
        );
    }

    #[test]
    fn footer_and_help_come_from_the_table() {
        let users = footer(When::Browsing(&[]), Screen::Users);
        assert!(users.contains(&("d".into(), "disable")), "{users:?}");
        assert!(users.contains(&("v".into(), "mail verification")), "{users:?}");
        assert!(users.contains(&("m".into(), "mail reset link")), "{users:?}");
        assert!(users.contains(&("?".into(), "help")));
        assert!(!users.iter().any(|(_, l)| *l == "rotate key"));
        let help = help_sections();
        let all: usize = help.iter().map(|(_, e)| e.len()).sum();
        assert_eq!(all, BINDINGS.len(), "every binding is in the overlay");
        assert!(
            help.iter()
                .any(|(t, e)| t == "Everywhere" && e.contains(&("1-6".into(), "go to screen")))
        );
    }

    #[test]
    fn screens_cycle() {
        assert_eq!(Screen::Overview.cycle(-1), Screen::Settings);
        assert_eq!(Screen::Settings.cycle(1), Screen::Overview);
        assert_eq!(Screen::Users.cycle(2), Screen::Clients);
    }

    #[test]
    fn the_readme_carries_the_key_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let table = markdown();
        assert!(
            readme.contains(&table),
            "README.md should carry this key table:\n{table}"
        );
    }
}
