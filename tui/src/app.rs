//! The console's state and its pure update step: [`App::update`] takes one
//! [`Event`] (a key, a tick, a frame from the daemon, a connection change) and
//! returns the [`Effect`]s to carry out (requests to send, quitting). It does no I/O,
//! so every behaviour is testable without a terminal or a daemon.
//!
//! Here: the state, connection changes, ticks and the daemon's answers; `keys.rs`:
//! what a key does in each mode; `actions.rs`: the forms, confirmations and requests
//! that act on the daemon.

use crate::form::{Confirm, Form};
use crate::history::History;
use crate::keymap::{Screen, When};
use ratatui::crossterm::event::KeyEvent;
use std::collections::{HashMap, HashSet, VecDeque};
use tessera_common::admin::{
    AdminApiToken, AdminUser, AuditEntry, ClientCreated, ClientView, Outcome, Page, RecordCounts, Reply, Request,
    SessionView, StatusView,
};
use tessera_common::api::KeyView;

/// Audit entries kept on screen.
pub const AUDIT_KEPT: usize = 1000;
/// Audit entries fetched on (re)connection.
const AUDIT_TAIL: usize = 500;
/// Ticks (seconds) a message stays in the bar.
const MESSAGE_TICKS: u8 = 8;
/// Ticks between full status reads (the Activity poll runs every tick).
const STATUS_EVERY: u64 = 30;
/// Ticks between reloads of lists that daemon activity made stale.
const REFRESH_EVERY: u64 = 3;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// The terminal changed size (the next draw adapts).
    Resize,
    /// A second went by.
    Tick,
    /// Connected and greeted.
    Connected {
        /// The daemon's version.
        daemon: String,
    },
    /// A (re)connection attempt failed.
    ConnectFailed(String),
    /// The connection ended.
    Disconnected(String),
    /// The daemon answered request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// Its outcome.
        outcome: Outcome,
    },
    /// The daemon pushed an audit entry.
    Pushed(AuditEntry),
    /// A signal asked the console to stop.
    Quit,
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a request.
    Send {
        /// Its id; the answer comes back as [`Event::Response`] with it.
        id: u64,
        /// The request.
        call: Request,
    },
    /// Restore the terminal and exit.
    Quit,
}

/// The link to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    /// First attempt under way.
    Connecting,
    /// Connected.
    Up {
        /// The daemon's version.
        daemon: String,
    },
    /// Lost or never made; retrying every second.
    Down {
        /// Why the last attempt failed.
        reason: String,
    },
}

/// What the keys go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Moving around the screens.
    Browsing,
    /// Typing the current list's search or filter.
    Searching,
    /// The key overlay, scrolled down this many lines.
    Help(u16),
    /// A destructive action waiting for Enter/y or Esc/n.
    Confirm(Confirm),
    /// A form.
    Form(Form),
    /// A new client's secret, shown this once.
    Secret(ClientCreated),
    /// One audit entry, whole.
    Entry(Box<AuditEntry>),
}

/// A line in the message bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub error: bool,
    ticks_left: u8,
}

/// Selection and search of one list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListView {
    /// Selected row among the visible (filtered) ones.
    pub selected: usize,
    /// Case-insensitive substring; empty shows everything.
    pub filter: String,
}

impl ListView {
    /// The selected row, clamped to `len` rows.
    pub fn at(&self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.selected.min(len - 1))
    }

    fn step(&mut self, len: usize, delta: isize) {
        let last = len.saturating_sub(1) as isize;
        let from = self.selected.min(len.saturating_sub(1)) as isize;
        self.selected = (from + delta).clamp(0, last.max(0)) as usize;
    }
}

/// The selected user's sessions and API tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// Whose (user id).
    pub user_id: String,
    /// Their live sessions.
    pub sessions: Vec<SessionView>,
    /// Their API tokens.
    pub tokens: Vec<AdminApiToken>,
}

/// What an answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    Subscribe,
    Activity,
    Status,
    /// A page of a list.
    Page(Asked),
    Clients,
    Keys,
    AuditTail,
    DetailSessions(String),
    DetailTokens(String),
    /// A change: say `done` and reload.
    Change(String),
    /// A form's request: close the form on success, show the error in it otherwise.
    Submit(String),
}

/// The lists the console loads a page at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Users, by username.
    Users,
    /// Live sessions, by id.
    Sessions,
    /// API tokens, by id.
    Tokens,
}

/// Which page of a list was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    list: List,
    /// The page after this cursor (the first without).
    after: Option<String>,
    /// The entries this search matches (users: username or email prefix; sessions
    /// and tokens: their user's username prefix).
    search: Option<String>,
}

/// A row of the Settings screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Guest tokens on or off.
    Guest,
    /// Self-service registration open or closed.
    Registration,
    /// Signing-key rotation.
    Keys,
}

impl Setting {
    /// Rows of the Settings screen, in order.
    pub const ALL: [Setting; 3] = [Setting::Guest, Setting::Registration, Setting::Keys];
}

/// Everything the console knows.
#[derive(Debug, Clone)]
pub struct App {
    /// The admin socket, as shown to the operator.
    pub socket: String,
    /// The current tab.
    pub screen: Screen,
    /// What the keys go to.
    pub mode: Mode,
    /// The link to the daemon.
    pub conn: Conn,
    /// The message bar.
    pub message: Option<Message>,
    /// The last full status.
    pub status: Option<StatusView>,
    /// Activity samples for the charts.
    pub history: History,
    /// Users, loaded a page at a time.
    pub users: Paged<AdminUser>,
    /// Entries asked for per page of a list.
    pub page_size: usize,
    /// Users list selection and search.
    pub users_view: ListView,
    /// The details pane, when open.
    pub detail: Option<Detail>,
    /// Live sessions, loaded a page at a time.
    pub sessions: Paged<SessionView>,
    /// API tokens, loaded a page at a time (after every session on the screen).
    pub tokens: Paged<AdminApiToken>,
    /// Sessions & tokens selection (sessions first, then tokens) and search.
    pub sessions_view: ListView,
    /// OAuth clients.
    pub clients: Vec<ClientView>,
    /// Clients selection and search.
    pub clients_view: ListView,
    /// The newest audit entries, oldest first.
    pub audit: VecDeque<AuditEntry>,
    /// Audit selection and filter.
    pub audit_view: ListView,
    /// The audit list sticks to the newest entry.
    pub follow: bool,
    /// Published signing keys, active first.
    pub keys: Vec<KeyView>,
    /// Settings selection.
    pub settings_view: ListView,
    pending: HashMap<u64, Purpose>,
    next_id: u64,
    ticks: u64,
    /// The screens whose data daemon activity changed since they last asked for it.
    stale: HashSet<Screen>,
    refreshed_at: u64,
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(needle)
}

fn matches_any(fields: &[&str], filter: &str) -> bool {
    let needle = filter.to_lowercase();
    needle.is_empty() || fields.iter().any(|f| contains(f, &needle))
}

impl App {
    /// A console for `socket`, not yet connected.
    pub fn new(socket: impl Into<String>) -> Self {
        Self {
            socket: socket.into(),
            screen: Screen::Overview,
            mode: Mode::Browsing,
            conn: Conn::Connecting,
            message: None,
            status: None,
            history: History::default(),
            users: Paged::default(),
            page_size: tessera_common::admin::MAX_PAGE,
            users_view: ListView::default(),
            detail: None,
            sessions: Paged::default(),
            tokens: Paged::default(),
            sessions_view: ListView::default(),
            clients: Vec::new(),
            clients_view: ListView::default(),
            audit: VecDeque::new(),
            audit_view: ListView::default(),
            follow: true,
            keys: Vec::new(),
            settings_view: ListView::default(),
            pending: HashMap::new(),
            next_id: 1,
            ticks: 0,
            stale: HashSet::new(),
            refreshed_at: 0,
        }
    }

    // ----- what the screens show -----

    /// How many entries of a list the store holds: the loaded ones, or the store's
    /// own `count` of them when more follow and no search narrowed the list.
    fn total<T>(&self, list: &Paged<T>, count: fn(&RecordCounts) -> u64) -> usize {
        match &self.status {
            Some(status) if list.more && list.searched.is_none() => {
                usize::try_from(count(&status.records)).unwrap_or(usize::MAX)
            }
            _ => list.rows.len(),
        }
    }

    /// How many users the store holds.
    pub fn users_total(&self) -> usize {
        self.total(&self.users, |r| r.users)
    }

    /// How many API tokens the store holds.
    pub fn tokens_total(&self) -> usize {
        self.total(&self.tokens, |r| r.api_tokens)
    }

    /// How many live sessions the store holds.
    pub fn sessions_total(&self) -> usize {
        self.total(&self.sessions, |r| r.sessions)
    }

    /// Users matching the search.
    pub fn visible_users(&self) -> Vec<&AdminUser> {
        let f = &self.users_view.filter;
        self.users
            .rows
            .iter()
            .filter(|u| {
                matches_any(
                    &[&u.user.username, &u.user.email, &u.user.display_name, &u.user.role],
                    f,
                )
            })
            .collect()
    }

    /// The selected user.
    pub fn selected_user(&self) -> Option<&AdminUser> {
        let users = self.visible_users();
        self.users_view.at(users.len()).map(|i| users[i])
    }

    /// Sessions and API tokens matching the search.
    pub fn visible_sessions(&self) -> (Vec<&SessionView>, Vec<&AdminApiToken>) {
        let f = &self.sessions_view.filter;
        let sessions = self
            .sessions
            .rows
            .iter()
            .filter(|s| matches_any(&[&s.id, &s.username, &s.scopes.join(" ")], f))
            .collect();
        let tokens = self
            .tokens
            .rows
            .iter()
            .filter(|t| matches_any(&[&t.token.id, &t.username, &t.token.name, &t.token.scopes.join(" ")], f))
            .collect();
        (sessions, tokens)
    }

    /// Clients matching the search.
    pub fn visible_clients(&self) -> Vec<&ClientView> {
        let f = &self.clients_view.filter;
        self.clients
            .iter()
            .filter(|c| matches_any(&[&c.client_id, &c.scopes.join(" ")], f))
            .collect()
    }

    /// Audit entries matching the filter, oldest first.
    pub fn visible_audit(&self) -> Vec<&AuditEntry> {
        let f = &self.audit_view.filter;
        self.audit
            .iter()
            .filter(|e| {
                matches_any(
                    &[
                        &e.event,
                        e.subject.as_deref().unwrap_or(""),
                        e.username.as_deref().unwrap_or(""),
                        e.origin.as_deref().unwrap_or(""),
                        e.detail.as_deref().unwrap_or(""),
                        &e.at,
                    ],
                    f,
                )
            })
            .collect()
    }

    /// The selected audit row: the newest while following.
    pub fn audit_selected(&self) -> Option<usize> {
        self.audit_selected_in(self.visible_audit().len())
    }

    /// [`App::audit_selected`] when the filtered trail, `len` entries, is at hand.
    pub fn audit_selected_in(&self, len: usize) -> Option<usize> {
        if self.follow {
            len.checked_sub(1)
        } else {
            self.audit_view.at(len)
        }
    }

    /// Rows of the current screen's list.
    fn list_len(&self) -> usize {
        match self.screen {
            Screen::Overview => 0,
            Screen::Users => self.visible_users().len(),
            Screen::Sessions => {
                let (s, t) = self.visible_sessions();
                s.len() + t.len()
            }
            Screen::Clients => self.visible_clients().len(),
            Screen::Audit => self.visible_audit().len(),
            Screen::Settings => Setting::ALL.len(),
        }
    }

    fn view_mut(&mut self) -> Option<&mut ListView> {
        match self.screen {
            Screen::Overview => None,
            Screen::Users => Some(&mut self.users_view),
            Screen::Sessions => Some(&mut self.sessions_view),
            Screen::Clients => Some(&mut self.clients_view),
            Screen::Audit => Some(&mut self.audit_view),
            Screen::Settings => Some(&mut self.settings_view),
        }
    }

    /// The search being typed or kept on the current screen.
    pub fn filter(&self) -> &str {
        match self.screen {
            Screen::Users => &self.users_view.filter,
            Screen::Sessions => &self.sessions_view.filter,
            Screen::Clients => &self.clients_view.filter,
            Screen::Audit => &self.audit_view.filter,
            Screen::Overview | Screen::Settings => "",
        }
    }

    /// Roles the daemon knows (empty before the first status).
    pub fn roles(&self) -> &[String] {
        self.status.as_ref().map_or(&[], |s| s.roles.as_slice())
    }

    /// Where the keys go now, for the key table.
    pub fn when(&self) -> When {
        match self.mode {
            Mode::Browsing => When::Browsing(&[]),
            Mode::Searching => When::Searching,
            Mode::Help(_) | Mode::Secret(_) | Mode::Entry(_) => When::Notice,
            Mode::Confirm(_) => When::Confirming,
            Mode::Form(_) => When::Form,
        }
    }

    // ----- the update step -----

    /// Applies `event`; returns what the runtime must do.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Resize => Vec::new(),
            Event::Tick => self.on_tick(),
            Event::Connected { daemon } => {
                if matches!(self.conn, Conn::Down { .. }) {
                    self.say("reconnected", false);
                }
                self.conn = Conn::Up { daemon };
                self.history.rebase();
                let mut effects = vec![
                    self.send(Request::Subscribe, Purpose::Subscribe),
                    self.send(
                        Request::Audit {
                            limit: Some(AUDIT_TAIL),
                            page: None,
                        },
                        Purpose::AuditTail,
                    ),
                    self.send(Request::Activity, Purpose::Activity),
                ];
                effects.extend(self.reload());
                effects
            }
            Event::ConnectFailed(reason) => {
                self.conn = Conn::Down { reason };
                Vec::new()
            }
            Event::Disconnected(reason) => {
                self.conn = Conn::Down { reason };
                self.pending.clear();
                self.history.rebase();
                if let Mode::Form(form) = &mut self.mode {
                    form.waiting = false;
                    form.error = Some("the connection to the daemon was lost".into());
                }
                self.say("lost the daemon; reconnecting", true);
                Vec::new()
            }
            Event::Response { id, outcome } => self.on_response(id, outcome),
            Event::Pushed(entry) => {
                self.push_audit(entry);
                // Every screen with data of its own: each is fetched when next shown
                // (an entry during a fetch in flight makes that screen stale again).
                self.stale
                    .extend([Screen::Users, Screen::Sessions, Screen::Clients, Screen::Settings]);
                Vec::new()
            }
            Event::Quit => vec![Effect::Quit],
        }
    }

    fn send(&mut self, call: Request, purpose: Purpose) -> Effect {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, purpose);
        Effect::Send { id, call }
    }

    fn is_pending(&self, purpose: &Purpose) -> bool {
        self.pending.values().any(|p| p == purpose)
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some(Message {
            text: text.into(),
            error,
            ticks_left: MESSAGE_TICKS,
        });
    }

    /// Fetches every list and the status again.
    fn reload(&mut self) -> Vec<Effect> {
        let mut effects = vec![
            self.send(Request::Status, Purpose::Status),
            self.again(List::Users),
            self.again(List::Sessions),
            self.again(List::Tokens),
            self.send(Request::ClientList, Purpose::Clients),
            self.send(Request::KeyList, Purpose::Keys),
        ];
        effects.extend(self.load_detail());
        self.stale.clear();
        self.refreshed_at = self.ticks;
        effects
    }

    /// Fetches what the current screen shows, if daemon activity made it stale.
    fn refresh_screen(&mut self) -> Vec<Effect> {
        if !self.stale.remove(&self.screen) {
            return Vec::new();
        }
        self.refreshed_at = self.ticks;
        match self.screen {
            Screen::Overview | Screen::Audit => Vec::new(),
            Screen::Users => {
                let mut effects = vec![self.again(List::Users)];
                effects.extend(self.load_detail());
                effects
            }
            Screen::Sessions => vec![self.again(List::Sessions), self.again(List::Tokens)],
            Screen::Clients => vec![self.send(Request::ClientList, Purpose::Clients)],
            Screen::Settings => vec![
                self.send(Request::Status, Purpose::Status),
                self.send(Request::KeyList, Purpose::Keys),
            ],
        }
    }

    /// Fetches the open details pane's sessions and tokens for the selected user.
    fn load_detail(&mut self) -> Vec<Effect> {
        if self.detail.is_none() {
            return Vec::new();
        }
        let Some(user) = self.selected_user() else {
            self.detail = None;
            return Vec::new();
        };
        let (id, name) = (user.user.id.clone(), user.user.username.clone());
        if self.detail.as_ref().is_some_and(|d| d.user_id != id) {
            self.detail = Some(Detail {
                user_id: id.clone(),
                ..Detail::default()
            });
        }
        vec![
            self.send(
                Request::SessionList {
                    name: Some(name.clone()),
                    search: None,
                    page: None,
                },
                Purpose::DetailSessions(id.clone()),
            ),
            self.send(
                Request::TokenList {
                    name: Some(name),
                    search: None,
                    page: None,
                },
                Purpose::DetailTokens(id),
            ),
        ]
    }

    fn on_tick(&mut self) -> Vec<Effect> {
        self.ticks += 1;
        if let Some(m) = &mut self.message {
            m.ticks_left = m.ticks_left.saturating_sub(1);
            if m.ticks_left == 0 {
                self.message = None;
            }
        }
        if !matches!(self.conn, Conn::Up { .. }) {
            return Vec::new();
        }
        let mut effects = Vec::new();
        if !self.is_pending(&Purpose::Activity) {
            effects.push(self.send(Request::Activity, Purpose::Activity));
        }
        if self.ticks.is_multiple_of(STATUS_EVERY) && !self.is_pending(&Purpose::Status) {
            effects.push(self.send(Request::Status, Purpose::Status));
        }
        if self.stale.contains(&self.screen) && self.ticks.saturating_sub(self.refreshed_at) >= REFRESH_EVERY {
            effects.extend(self.refresh_screen());
        }
        effects
    }

    /// Keeps a pushed entry in sequence order, once: two events made at the same
    /// moment can arrive out of order.
    fn push_audit(&mut self, entry: AuditEntry) {
        let newest = self.audit.back().map_or(0, |e| e.seq);
        if entry.seq == 0 || entry.seq > newest {
            self.audit.push_back(entry);
        } else if let Err(at) = self.audit.binary_search_by_key(&entry.seq, |e| e.seq) {
            self.audit.insert(at, entry);
        }
        while self.audit.len() > AUDIT_KEPT {
            self.audit.pop_front();
        }
    }

    fn on_response(&mut self, id: u64, outcome: Outcome) -> Vec<Effect> {
        let Some(purpose) = self.pending.remove(&id) else {
            return Vec::new();
        };
        let reply = match outcome {
            Outcome::Ok(reply) => reply,
            Outcome::Error(error) => {
                match (&mut self.mode, purpose) {
                    (Mode::Form(form), Purpose::Submit(_)) => {
                        form.waiting = false;
                        form.error = Some(error.message);
                    }
                    _ => self.say(error.message, true),
                }
                return Vec::new();
            }
        };
        match (purpose, reply) {
            (Purpose::Activity, Reply::Activity(a)) => {
                self.history.push(a);
                if let Some(s) = &mut self.status {
                    s.activity = a;
                }
            }
            (Purpose::Status, Reply::Status(s)) => self.status = Some(*s),
            (Purpose::Page(asked), Reply::UserPage { users, next }) if asked.list == List::Users => {
                self.on_page(asked, users, next.is_some(), |app| &mut app.users);
                if self.detail.is_some() {
                    return self.load_detail();
                }
            }
            (Purpose::Page(asked), Reply::SessionPage { mut sessions, next }) if asked.list == List::Sessions => {
                if next.is_none() && asked.after.is_none() {
                    // All of them: newest first (RFC 3339 UTC strings sort as times).
                    sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at));
                }
                self.on_page(asked, sessions, next.is_some(), |app| &mut app.sessions);
            }
            (Purpose::Page(asked), Reply::TokenPage { tokens, next }) if asked.list == List::Tokens => {
                self.on_page(asked, tokens, next.is_some(), |app| &mut app.tokens);
            }
            (Purpose::Clients, Reply::Clients(list)) => self.clients = list,
            (Purpose::Keys, Reply::Keys(list)) => self.keys = list,
            (Purpose::AuditTail, Reply::Audit(tail)) => {
                let newest = tail.last().map_or(0, |e| e.seq);
                let later: Vec<AuditEntry> = self.audit.drain(..).filter(|e| e.seq > newest).collect();
                self.audit = tail.into_iter().chain(later).collect();
                while self.audit.len() > AUDIT_KEPT {
                    self.audit.pop_front();
                }
            }
            (Purpose::DetailSessions(user), Reply::Sessions(list)) => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.user_id == user) {
                    d.sessions = list;
                }
            }
            (Purpose::DetailTokens(user), Reply::ApiTokens(list)) => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.user_id == user) {
                    d.tokens = list;
                }
            }
            (Purpose::Change(done) | Purpose::Submit(done), reply) => {
                if matches!(self.mode, Mode::Form(_)) {
                    self.mode = Mode::Browsing;
                }
                match reply {
                    Reply::ClientCreated(created) => {
                        self.mode = Mode::Secret(created);
                        self.say(done, false);
                    }
                    Reply::Count(n) => self.say(format!("{done}: {n} session(s) revoked"), false),
                    _ => self.say(done, false),
                }
                return self.reload();
            }
            (Purpose::Subscribe, _) => {}
            (_, other) => self.say(format!("unexpected answer from the daemon: {other:?}"), true),
        }
        Vec::new()
    }
}

mod actions;
mod keys;
mod lazy;

pub use keys::edit;
pub use lazy::Paged;

#[cfg(test)]
mod tests;

impl App {
    /// The request for a page of `list`: the one after `after` (the first without),
    /// of the entries `search` matches (all without).
    fn list_page(&self, list: List, after: Option<String>, search: Option<String>) -> Request {
        let page = Some(Page {
            limit: self.page_size,
            after,
        });
        match list {
            List::Users => Request::UserList { search, page },
            List::Sessions => Request::SessionList {
                name: None,
                search,
                page,
            },
            List::Tokens => Request::TokenList {
                name: None,
                search,
                page,
            },
        }
    }

    /// Sends the request for a page of `list`.
    fn ask(&mut self, list: List, after: Option<String>, search: Option<String>) -> Effect {
        let call = self.list_page(list, after.clone(), search.clone());
        self.send(call, Purpose::Page(Asked { list, after, search }))
    }

    /// Asks for the first page of `list` again, of the search the daemon answered
    /// when there is one.
    fn again(&mut self, list: List) -> Effect {
        let search = self.loaded(list).searched().map(str::to_owned);
        self.ask(list, None, search)
    }

    /// `list`, whatever its rows.
    fn loaded(&self, list: List) -> &dyn lazy::Loaded {
        match list {
            List::Users => &self.users,
            List::Sessions => &self.sessions,
            List::Tokens => &self.tokens,
        }
    }

    /// `list`, whatever its rows, to change.
    fn loaded_mut(&mut self, list: List) -> &mut dyn lazy::Loaded {
        match list {
            List::Users => &mut self.users,
            List::Sessions => &mut self.sessions,
            List::Tokens => &mut self.tokens,
        }
    }

    /// Keeps a page the daemon sent in the list it belongs to.
    fn on_page<T: lazy::Keyed>(&mut self, asked: Asked, rows: Vec<T>, next: bool, list: fn(&mut App) -> &mut Paged<T>) {
        let filter = self.filter_of(asked.list).to_owned();
        let paged = list(self);
        match (asked.after, asked.search) {
            (Some(after), _) => paged.next_page(&after, rows, next),
            // Only when that search is still the one kept.
            (None, Some(search)) if filter == search => paged.found(search, rows, next),
            (None, Some(_)) => {}
            (None, None) => paged.first_page(rows, next),
        }
    }

    /// The search kept on the screen that shows `list`.
    fn filter_of(&self, list: List) -> &str {
        match list {
            List::Users => &self.users_view.filter,
            List::Sessions | List::Tokens => &self.sessions_view.filter,
        }
    }

    /// The lists the current screen shows.
    fn lists_in_view(&self) -> &'static [List] {
        match self.screen {
            Screen::Users => &[List::Users],
            Screen::Sessions => &[List::Sessions, List::Tokens],
            _ => &[],
        }
    }

    /// Asks the daemon for the entries a kept search matches (see [`Asked::search`]),
    /// when not every entry is loaded: the loaded rows alone would miss some.
    pub(super) fn search_in_daemon(&mut self) -> Vec<Effect> {
        let lists = self.lists_in_view();
        let Some(&first) = lists.first() else {
            return Vec::new();
        };
        let search = self.filter_of(first).to_owned();
        let needed = lists.iter().any(|&list| self.loaded(list).search_needs_daemon());
        if search.is_empty() || !needed {
            return Vec::new();
        }
        lists
            .iter()
            .map(|&list| self.ask(list, None, Some(search.clone())))
            .collect()
    }

    /// After a search the daemon answered is cleared: the first pages again.
    pub(super) fn unsearch(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for &list in self.lists_in_view() {
            if self.loaded_mut(list).unsearch() {
                effects.push(self.ask(list, None, None));
            }
        }
        effects
    }

    /// Asks for the next page of the list the selection is in when it is within
    /// [`NEAR_THE_END`] rows of that list's last loaded row, more follow, no search
    /// narrows the list and no page of it is on its way. On the Sessions screen, API
    /// tokens follow every session.
    pub(super) fn more_if_near_the_end(&mut self) -> Vec<Effect> {
        let (list, selected, loaded, last) = match self.screen {
            Screen::Users if self.users.more => (
                List::Users,
                self.users_view.selected,
                self.users.rows.len(),
                self.users.last_cursor(),
            ),
            Screen::Sessions if self.sessions.more => (
                List::Sessions,
                self.sessions_view.selected,
                self.sessions.rows.len(),
                self.sessions.last_cursor(),
            ),
            Screen::Sessions if self.tokens.more => (
                List::Tokens,
                self.sessions_view.selected,
                self.sessions.rows.len() + self.tokens.rows.len(),
                self.tokens.last_cursor(),
            ),
            _ => return Vec::new(),
        };
        let near = selected + NEAR_THE_END >= loaded;
        let asked = self
            .pending
            .values()
            .any(|p| matches!(p, Purpose::Page(a) if a.list == list && a.after.is_some()));
        let Some(last) = last.map(str::to_owned) else {
            return Vec::new();
        };
        if !near || asked || !self.filter_of(list).is_empty() {
            return Vec::new();
        }
        vec![self.ask(list, Some(last), None)]
    }
}

/// Rows from the end of the loaded ones at which the next page is asked for.
const NEAR_THE_END: usize = 20;
