//! Request ids: every HTTP request and admin call runs with one, in a tracing span
//! (so each log line it causes carries it), in the `X-Request-Id` response header,
//! and in the audit entries it writes. An inbound `X-Request-Id` is kept when it is
//! sane, so a proxy's or an app's id ties their logs to Tessera's.

use std::fmt;
use std::future::Future;

/// The longest inbound id kept.
const MAX_LEN: usize = 64;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of one HTTP request or admin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A new random id (32 hex digits).
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// `inbound` if it is a sane id (1 to 64 characters, each an ASCII letter, digit
    /// or one of `-_.:`), else a new one: anything else could forge log lines or
    /// flood them.
    pub fn accept(inbound: Option<&str>) -> Self {
        match inbound {
            Some(id)
                if (1..=MAX_LEN).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
            {
                RequestId(id.to_owned())
            }
            _ => Self::generate(),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Runs `work` with `self` as the [`current`] id.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the request or admin call this task serves, if any.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_inbound_ids_are_kept_and_others_replaced() {
        for sane in ["abc", "0f3c-42_a.b:c", &"x".repeat(64)] {
            assert_eq!(RequestId::accept(Some(sane)).as_str(), sane);
        }
        for insane in ["", "a b", "a\nfake log line", &"x".repeat(65), "é", "a/b"] {
            let id = RequestId::accept(Some(insane));
            assert_ne!(id.as_str(), insane);
            assert_eq!(id.as_str().len(), 32, "a generated id replaces {insane:?}");
        }
        assert_ne!(
            RequestId::accept(None),
            RequestId::accept(None),
            "each generated id is new"
        );
    }

    #[tokio::test]
    async fn the_current_id_is_the_scopes() {
        assert_eq!(current(), None);
        let id = RequestId::accept(Some("req-1"));
        let seen = id.clone().scope(async { current() }).await;
        assert_eq!(seen, Some(id));
        assert_eq!(current(), None, "only inside the scope");
    }
}
