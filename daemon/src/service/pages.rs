//! Paged lists for the console (see README, "Paged lists"): a page's limit, checked;
//! the split of a store read into the page and the cursor of the next; and the cap on
//! answers from consoles older than paging.

use super::ServiceError;
use tessera_common::admin::{MAX_PAGE, Page};

/// The most entries an unpaged list (from a console older than paging) is built for:
/// past it the answer would not fit the protocol's longest line.
const UNPAGED_MAX: u64 = 10_000;

/// Refuses, before any work, an unpaged list of `count` `what` that would not fit.
pub(super) fn fits_one_answer(count: u64, what: &str) -> Result<(), ServiceError> {
    if count <= UNPAGED_MAX {
        return Ok(());
    }
    Err(ServiceError::malformed(format!(
        "{count} {what} are more than one answer holds; ask for pages \
         (a newer tessera: --limit, --after, --search)"
    )))
}

/// A page's limit, checked: 1 to [`MAX_PAGE`].
pub(super) fn limit(page: &Page) -> Result<usize, ServiceError> {
    if (1..=MAX_PAGE).contains(&page.limit) {
        Ok(page.limit)
    } else {
        Err(ServiceError::invalid(
            "limit",
            format!("a page holds 1 to {MAX_PAGE} entries"),
        ))
    }
}

/// Splits what a store read of `limit + 1` entries returned into the page and, when
/// more followed, the cursor of the next page: the `key` of the page's last entry.
pub(super) fn split<T>(mut read: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if read.len() <= limit {
        return (read, None);
    }
    read.truncate(limit);
    let next = read.last().map(key);
    (read, next)
}
