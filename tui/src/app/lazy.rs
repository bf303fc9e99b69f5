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

/// What the console asks of any paged list, whatever its rows.
pub trait Loaded {
    /// The search the loaded rows answer, when the daemon was asked one.
    fn searched(&self) -> Option<&str>;
    /// Whether a search must go to the daemon: the loaded rows alone would miss some.
    fn search_needs_daemon(&self) -> bool;
    /// Forgets a search the daemon answered; true if there was one (the first page
    /// must then be loaded again). Until it comes, more are taken to follow, so a
    /// search made meanwhile goes to the daemon.
    fn unsearch(&mut self) -> bool;
}

impl<T: Keyed> Loaded for Paged<T> {
    fn searched(&self) -> Option<&str> {
        self.searched.as_deref()
    }

    fn search_needs_daemon(&self) -> bool {
        self.more || self.searched.is_some()
    }

    fn unsearch(&mut self) -> bool {
        let had = self.searched.take().is_some();
        if had {
            self.rows.clear();
            self.more = true;
        }
        had
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
    /// The first page again: rows loaded further down stay, after it. Whether more
    /// follow is the daemon's word: rows may have been added past the loaded ones
    /// (the next page asked for after the last loaded row says).
    pub fn first_page(&mut self, page: Vec<T>, next: bool) {
        let end = page.last().map(Keyed::order);
        let further: Vec<T> = match (next, end) {
            (true, Some(end)) => std::mem::take(&mut self.rows)
                .into_iter()
                .filter(|row| row.order() > end)
                .collect(),
            _ => Vec::new(),
        };
        self.more = next;
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

    /// The cursor of the last loaded row.
    pub fn last_cursor(&self) -> Option<&str> {
        self.rows.last().map(Keyed::cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_common::admin::AdminApiToken;
    use tessera_common::api::ApiTokenView;

    fn token(id: &str) -> AdminApiToken {
        AdminApiToken {
            token: ApiTokenView {
                id: id.into(),
                name: id.into(),
                scopes: Vec::new(),
                created_at: String::new(),
                expires_at: None,
                last_used_at: None,
            },
            user_id: String::new(),
            username: String::new(),
        }
    }

    fn ids(list: &Paged<AdminApiToken>) -> Vec<&str> {
        list.rows.iter().map(|t| t.token.id.as_str()).collect()
    }

    #[test]
    fn a_refreshed_first_page_keeps_the_rows_after_it_and_the_daemons_word_on_more() {
        let mut list = Paged::default();
        list.first_page(vec![token("b"), token("c")], true);
        list.next_page("c", vec![token("d")], false);
        assert_eq!((ids(&list), list.more), (vec!["b", "c", "d"], false));
        // "a" and "z" were added: the first page now ends at "b" and more follow.
        list.first_page(vec![token("a"), token("b")], true);
        assert_eq!(ids(&list), ["a", "b", "c", "d"]);
        assert!(list.more, "z lies past the loaded rows");
        list.next_page("d", vec![token("z")], false);
        assert_eq!((ids(&list), list.more), (vec!["a", "b", "c", "d", "z"], false));
    }

    #[test]
    fn after_a_search_is_cleared_a_new_one_goes_to_the_daemon_until_the_first_page_is_back() {
        let mut list = Paged::default();
        list.first_page(vec![token("a")], false);
        assert!(!list.search_needs_daemon(), "everything is loaded");
        list.found("a".into(), vec![token("a")], false);
        assert!(list.unsearch());
        assert!(list.search_needs_daemon(), "the first page is on its way");
        list.first_page(vec![token("a")], false);
        assert!(!list.search_needs_daemon());
    }
}
