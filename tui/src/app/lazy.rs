//! Lists the console loads a page at a time (users, sessions, API tokens): the rows
//! loaded so far, whether more follow, and the search the daemon answered. The
//! daemon's pages come in key order; a row's key is its cursor for the next page.

use tessera_common::admin::{AdminApiToken, AdminUser, SessionView};

/// A row of a paged list.
pub trait Keyed {
    /// The row's cursor: the next page starts after it.
    fn cursor(&self) -> &str;
    /// Where the row sorts in the daemon's pages.
    fn order(&self) -> String;
}

impl Keyed for AdminUser {
    fn cursor(&self) -> &str {
        &self.user.username
    }

    fn order(&self) -> String {
        self.user.username.to_lowercase()
    }
}

impl Keyed for SessionView {
    fn cursor(&self) -> &str {
        &self.id
    }

    fn order(&self) -> String {
        self.id.clone()
    }
}

impl Keyed for AdminApiToken {
    fn cursor(&self) -> &str {
        &self.token.id
    }

    fn order(&self) -> String {
        self.token.id.clone()
    }
}

/// The loaded part of a list the daemon pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    /// The rows loaded, in the daemon's order.
    pub rows: Vec<T>,
    /// Whether rows follow the loaded ones (fetched as the selection nears the end).
    pub more: bool,
    /// The search the loaded rows answer, when the daemon was asked one.
    pub searched: Option<String>,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            more: false,
            searched: None,
        }
    }
}

impl<T: Keyed> Paged<T> {
    /// The first page again: rows loaded further down stay, after it.
    pub fn first_page(&mut self, page: Vec<T>, next: bool) {
        let end = page.last().map(Keyed::order);
        let further: Vec<T> = match (next, end) {
            (true, Some(end)) => std::mem::take(&mut self.rows)
                .into_iter()
                .filter(|row| row.order() > end)
                .collect(),
            _ => Vec::new(),
        };
        self.more = next && (further.is_empty() || self.more);
        self.rows = page;
        self.rows.extend(further);
    }

    /// The page after `after`, kept only when the list still ends there.
    pub fn next_page(&mut self, after: &str, page: Vec<T>, next: bool) {
        if self.last_cursor() == Some(after) {
            self.rows.extend(page);
            self.more = next;
        }
    }

    /// The daemon's answer to `search`.
    pub fn found(&mut self, search: String, page: Vec<T>, next: bool) {
        self.rows = page;
        self.more = next;
        self.searched = Some(search);
    }

    /// Forgets a search the daemon answered; true if there was one (the first page
    /// must then be loaded again).
    pub fn unsearch(&mut self) -> bool {
        let had = self.searched.take().is_some();
        if had {
            self.rows.clear();
            self.more = false;
        }
        had
    }

    /// Whether a search must go to the daemon: the loaded rows alone would miss some.
    pub fn search_needs_daemon(&self) -> bool {
        self.more || self.searched.is_some()
    }

    /// The cursor of the last loaded row.
    pub fn last_cursor(&self) -> Option<&str> {
        self.rows.last().map(Keyed::cursor)
    }
}
