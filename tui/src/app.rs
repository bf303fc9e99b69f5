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
use std::collections::{HashMap, VecDeque};
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
    Users,
    /// The page of users after this username, for a selection that neared the end.
    MoreUsers(String),
    /// The users whose username or email starts with this, asked of the daemon.
    UserSearch(String),
    Sessions,
    Tokens,
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
    /// The first page of users (every user, up to a page's worth).
    pub users: Vec<AdminUser>,
    /// Whether users follow the loaded ones (fetched as the selection nears the end).
    pub more_users: bool,
    /// Entries asked for per page of a list.
    pub page_size: usize,
    /// The search the loaded users answer, when the daemon was asked one.
    pub users_searched: Option<String>,
    /// Users list selection and search.
    pub users_view: ListView,
    /// The details pane, when open.
    pub detail: Option<Detail>,
    /// The first page of live sessions (every one, up to a page's worth).
    pub sessions: Vec<SessionView>,
    /// Whether sessions follow the loaded page.
    pub more_sessions: bool,
    /// The first page of API tokens (every one, up to a page's worth).
    pub tokens: Vec<AdminApiToken>,
    /// Whether API tokens follow the loaded page.
    pub more_tokens: bool,
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
    stale: bool,
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
            users: Vec::new(),
            more_users: false,
            page_size: tessera_common::admin::MAX_PAGE,
            users_searched: None,
            users_view: ListView::default(),
            detail: None,
            sessions: Vec::new(),
            more_sessions: false,
            more_tokens: false,
            tokens: Vec::new(),
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
            stale: false,
            refreshed_at: 0,
        }
    }

    // ----- what the screens show -----

    /// How many entries of a list the store holds: the `loaded` ones, or the store's
    /// own `count` of them when `more` follow.
    fn total(&self, loaded: usize, more: bool, count: fn(&RecordCounts) -> u64) -> usize {
        match &self.status {
            Some(status) if more => usize::try_from(count(&status.records)).unwrap_or(usize::MAX),
            _ => loaded,
        }
    }

    /// How many users the store holds.
    pub fn users_total(&self) -> usize {
        self.total(self.users.len(), self.more_users, |r| r.users)
    }

    /// How many API tokens the store holds.
    pub fn tokens_total(&self) -> usize {
        self.total(self.tokens.len(), self.more_tokens, |r| r.api_tokens)
    }

    /// How many live sessions the store holds.
    pub fn sessions_total(&self) -> usize {
        self.total(self.sessions.len(), self.more_sessions, |r| r.sessions)
    }

    /// Users matching the search.
    pub fn visible_users(&self) -> Vec<&AdminUser> {
        let f = &self.users_view.filter;
        self.users
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
            .iter()
            .filter(|s| matches_any(&[&s.id, &s.username, &s.scopes.join(" ")], f))
            .collect();
        let tokens = self
            .tokens
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
            Mode::Help(_) | Mode::Secret(_) => When::Notice,
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
                self.stale = true;
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
            self.send(self.users_page(None), Purpose::Users),
            self.send(self.first_page_of_sessions(), Purpose::Sessions),
            self.send(self.first_page_of_tokens(), Purpose::Tokens),
            self.send(Request::ClientList, Purpose::Clients),
            self.send(Request::KeyList, Purpose::Keys),
        ];
        effects.extend(self.load_detail());
        self.stale = false;
        self.refreshed_at = self.ticks;
        effects
    }

    /// Fetches what the current screen shows (after daemon activity made it stale).
    fn refresh_screen(&mut self) -> Vec<Effect> {
        self.stale = false;
        self.refreshed_at = self.ticks;
        match self.screen {
            Screen::Overview | Screen::Audit => Vec::new(),
            Screen::Users => {
                let mut effects = vec![self.send(self.users_page(None), Purpose::Users)];
                effects.extend(self.load_detail());
                effects
            }
            Screen::Sessions => vec![
                self.send(self.first_page_of_sessions(), Purpose::Sessions),
                self.send(self.first_page_of_tokens(), Purpose::Tokens),
            ],
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
        if self.stale && self.ticks.saturating_sub(self.refreshed_at) >= REFRESH_EVERY {
            effects.extend(self.refresh_screen());
        }
        effects
    }

    fn push_audit(&mut self, entry: AuditEntry) {
        let newest = self.audit.back().map_or(0, |e| e.seq);
        if entry.seq != 0 && entry.seq <= newest {
            return;
        }
        self.audit.push_back(entry);
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
            (Purpose::UserSearch(search), Reply::UserPage { users, next }) => {
                // Only when that search is still the one kept.
                if self.users_view.filter == search {
                    self.users = users;
                    self.more_users = next.is_some();
                    self.users_searched = Some(search);
                }
            }
            (Purpose::MoreUsers(after), Reply::UserPage { users, next }) => {
                // Only when the list still ends where this page starts.
                if self.users.last().is_some_and(|u| u.user.username == after) {
                    self.users.extend(users);
                    self.more_users = next.is_some();
                }
            }
            (Purpose::Users, Reply::UserPage { users, next }) => {
                // The first page again: rows loaded further down stay, after it.
                let end = users.last().map(|u| u.user.username.to_lowercase());
                let further: Vec<AdminUser> = match (&next, end) {
                    (Some(_), Some(end)) => std::mem::take(&mut self.users)
                        .into_iter()
                        .filter(|u| u.user.username.to_lowercase() > end)
                        .collect(),
                    _ => Vec::new(),
                };
                self.more_users = next.is_some() && (further.is_empty() || self.more_users);
                self.users = users;
                self.users.extend(further);
                if self.detail.is_some() {
                    return self.load_detail();
                }
            }
            (
                Purpose::Sessions,
                Reply::SessionPage {
                    sessions: mut list,
                    next,
                },
            ) => {
                // Newest first (RFC 3339 UTC strings sort as times).
                list.sort_by(|a, b| b.created_at.cmp(&a.created_at));
                self.sessions = list;
                self.more_sessions = next.is_some();
            }
            (Purpose::Tokens, Reply::TokenPage { tokens, next }) => {
                self.tokens = tokens;
                self.more_tokens = next.is_some();
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

pub use keys::edit;

#[cfg(test)]
mod tests;

impl App {
    /// The page of `page_size` entries after `after` (the first without).
    fn page(&self, after: Option<String>) -> Option<Page> {
        Some(Page {
            limit: self.page_size,
            after,
        })
    }

    /// The request for the page of users after `after` (the first without).
    fn users_page(&self, after: Option<String>) -> Request {
        Request::UserList {
            search: None,
            page: self.page(after),
        }
    }

    /// The request for the first page of live sessions.
    fn first_page_of_sessions(&self) -> Request {
        Request::SessionList {
            name: None,
            search: None,
            page: self.page(None),
        }
    }

    /// The request for the first page of API tokens.
    fn first_page_of_tokens(&self) -> Request {
        Request::TokenList {
            name: None,
            page: self.page(None),
        }
    }

    /// Asks the daemon for the users a kept search matches (the start of the username
    /// or email), when not every user is loaded: the loaded rows alone would miss some.
    pub(super) fn search_users(&mut self) -> Vec<Effect> {
        let search = self.users_view.filter.clone();
        if search.is_empty() || !(self.more_users || self.users_searched.is_some()) {
            return Vec::new();
        }
        let call = Request::UserList {
            search: Some(search.clone()),
            page: self.page(None),
        };
        vec![self.send(call, Purpose::UserSearch(search))]
    }

    /// After a search the daemon answered is cleared: the first page of every user.
    pub(super) fn unsearch_users(&mut self) -> Vec<Effect> {
        if self.users_searched.take().is_none() {
            return Vec::new();
        }
        self.users.clear();
        vec![self.send(self.users_page(None), Purpose::Users)]
    }

    /// Asks for the next page of users when the selection is within a screenful of
    /// the last loaded row, more follow, no search narrows the list and none is asked.
    pub(super) fn more_users_if_near_the_end(&mut self) -> Vec<Effect> {
        let near = self.users_view.selected + NEAR_THE_END >= self.users.len();
        let asked = self.pending.values().any(|p| matches!(p, Purpose::MoreUsers(_)));
        if !self.more_users || !near || asked || !self.users_view.filter.is_empty() {
            return Vec::new();
        }
        let Some(last) = self.users.last().map(|u| u.user.username.clone()) else {
            return Vec::new();
        };
        vec![self.send(self.users_page(Some(last.clone())), Purpose::MoreUsers(last))]
    }
}

/// Rows from the end of the loaded users at which the next page is asked for.
const NEAR_THE_END: usize = 20;
