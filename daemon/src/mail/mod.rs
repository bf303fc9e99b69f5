//! Mail: the messages ([`templates`]; see README, "Email"), the two transports
//! ([`transport`]: SMTP through lettre, or one `.eml` file per message), and a bounded
//! queue that the service drains off the request path, sending each message with
//! retries and backoff ([`Outbox::deliver`]).
//!
//! The queue lives in memory only: a message still queued when the daemon stops is
//! dropped (its link token is stored only as a digest, so it cannot be rebuilt), and
//! the person asks again. See `docs/decisions.md`.

pub mod templates;
pub mod transport;

use crate::config::MailConfig;
use std::time::Duration;
use tokio::sync::mpsc;
pub use transport::{Transport, TransportError};
use uuid::Uuid;

/// Messages waiting to be sent; more are dropped (logged, audited, counted).
const QUEUE: usize = 1024;
/// Sending attempts per message.
const ATTEMPTS: u32 = 5;
/// Wait before the second attempt; doubled before each further one.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// An optional text/html alternative.
    pub html: Option<String>,
}

impl std::fmt::Debug for Mail {
    /// Never shows the body: it may hold a link token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What a message is, for the audit trail and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Address verification.
    Verify,
    /// Password reset.
    Reset,
    /// Password-change notice.
    Notice,
}

impl MailKind {
    /// Every kind, in a fixed order.
    pub const ALL: [MailKind; 3] = [Self::Verify, Self::Reset, Self::Notice];

    /// Its name in the audit trail and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
            Self::Notice => "notice",
        }
    }
}

/// A queued message with what it is about.
#[derive(Debug)]
pub struct Queued {
    /// The message.
    pub mail: Mail,
    /// Its kind.
    pub kind: MailKind,
    /// The account it concerns.
    pub user: Uuid,
}

/// The sending side of the queue, and what the drain needs.
#[derive(Debug)]
pub struct Outbox {
    queue: mpsc::Sender<Queued>,
    transport: Transport,
}

impl Outbox {
    /// Builds the configured transport (creating the file transport's directory,
    /// reading the SMTP password) and the queue; the receiver goes to whoever drains it.
    pub fn open(config: &MailConfig) -> Result<(Self, mpsc::Receiver<Queued>), TransportError> {
        let transport = Transport::open(config)?;
        let (queue, receiver) = mpsc::channel(QUEUE);
        Ok((Self { queue, transport }, receiver))
    }

    /// The name messages are signed with (the display name of `mail.from`).
    pub fn app_name(&self) -> String {
        self.transport.app_name()
    }

    /// Queues a message; false when the queue is full (the message is dropped).
    pub fn queue(&self, queued: Queued) -> bool {
        self.queue.try_send(queued).is_ok()
    }

    /// Sends `mail`, retrying transient failures with doubling waits, up to
    /// [`ATTEMPTS`] tries. The error is the last attempt's.
    pub async fn deliver(&self, mail: &Mail) -> Result<u32, TransportError> {
        let mut wait = FIRST_RETRY;
        let mut attempt = 1;
        loop {
            match self.transport.send(mail).await {
                Ok(()) => return Ok(attempt),
                Err(e) if e.permanent || attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "mail not sent yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }
}
