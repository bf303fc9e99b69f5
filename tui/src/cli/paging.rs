//! Paged lists on the command line (see README, "Paged lists"): one page, ending with
//! the command for the next when more remain, or with `--all` every page in turn.

use super::{Failure, emit};
use crate::client::Client;
use crate::output;
use tessera_common::admin::{DEFAULT_PAGE, MAX_PAGE, Page, Reply, Request};

/// The flags every paged list takes.
#[derive(Debug, clap::Args)]
pub(super) struct Paging {
    /// Entries per page, 1 to 1000 (`audit --follow`: past entries shown first, 0 to
    /// 1000).
    #[arg(long, default_value_t = DEFAULT_PAGE as u64, value_parser = clap::value_parser!(u64).range(0..=MAX_PAGE as u64))]
    limit: u64,
    /// Start after this key: the last one of the previous page.
    #[arg(long, value_name = "KEY")]
    after: Option<String>,
    /// Every entry, fetched page by page.
    #[arg(long, conflicts_with_all = ["after", "limit"])]
    all: bool,
}

impl Paging {
    /// Entries per page.
    pub fn limit(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(MAX_PAGE)
    }
}

/// A paged list command.
pub(super) struct Listing {
    /// The request for one page.
    pub request: Box<dyn Fn(Page) -> Request>,
    /// The command line without the paging flags, for the `next:` line.
    pub command: String,
    /// Whether a page's human output starts with a header line (printed once with
    /// `--all`).
    pub header: bool,
}

impl Listing {
    /// `base [NAME] [--search PREFIX]`, as the operator would type it.
    pub fn searched(base: &str, name: Option<&str>, search: Option<&str>) -> String {
        Self::command(&[Some(base), name, search.map(|_| "--search"), search])
    }

    /// `words` as a command line, each word quoted for the shell as needed (the
    /// first, `tessera …`, is taken as is).
    fn command(words: &[Option<&str>]) -> String {
        let mut line = String::new();
        for (i, word) in words.iter().flatten().enumerate() {
            if i > 0 {
                line.push(' ');
                line.push_str(&shell_word(word));
            } else {
                line.push_str(word);
            }
        }
        line
    }
}

/// Prints the page (or every page) that `paging` asks for.
pub(super) fn run(client: &mut Client, listing: &Listing, paging: &Paging, json: bool) -> Result<(), Failure> {
    if paging.limit == 0 {
        return Err(Failure::Input(format!("--limit must be 1 to {MAX_PAGE}")));
    }
    let limit = if paging.all { MAX_PAGE } else { paging.limit() };
    let mut after = paging.after.clone();
    let mut first = true;
    if paging.all && json {
        emit("[")?;
    }
    loop {
        let page = Page {
            limit,
            after: after.take(),
        };
        let (rows, next) = split(client.call((listing.request)(page))?)?;
        match (paging.all, json) {
            (false, true) => emit(output::json_of(&rows))?,
            (false, false) => emit(output::human(&rows))?,
            (true, true) => {
                let items = output::json_of(&rows);
                for item in items.as_array().into_iter().flatten() {
                    let comma = if first { "" } else { "," };
                    first = false;
                    emit(format_args!("{comma}{item}"))?;
                }
            }
            (true, false) => {
                let text = output::human(&rows);
                if first {
                    first = false;
                    emit(text)?;
                } else if !listing.header {
                    emit(text)?;
                } else if let Some((_, rows)) = text.split_once('\n') {
                    emit(rows)?;
                }
            }
        }
        match next {
            Some(key) if paging.all => after = Some(key),
            Some(key) if !json => {
                return emit(format_args!(
                    "next: {} --limit {limit} --after {}",
                    listing.command,
                    shell_word(&key)
                ));
            }
            _ => break,
        }
    }
    if paging.all && json {
        emit("]")?;
    }
    Ok(())
}

/// The rows of a page, as the reply that prints them, and the next page's cursor.
fn split(reply: Reply) -> Result<(Reply, Option<String>), Failure> {
    match reply {
        Reply::UserPage { users, next } => Ok((Reply::Users(users), next)),
        Reply::SessionPage { sessions, next } => Ok((Reply::Sessions(sessions), next)),
        Reply::TokenPage { tokens, next } => Ok((Reply::ApiTokens(tokens), next)),
        Reply::AuditPage { entries, next } => Ok((Reply::Audit(entries), next)),
        other => Err(Failure::Refused(format!("the daemon answered a page with {other:?}"))),
    }
}

/// `word` as one shell word: as is when it is plain, else single-quoted.
pub(super) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+:/=".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_the_shell() {
        assert_eq!(shell_word("alice"), "alice");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
