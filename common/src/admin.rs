//! The admin protocol: newline-delimited JSON over the daemon's Unix socket (see README, "The console").
//!
//! A connection starts with a handshake: the client sends [`ClientFrame::Hello`] with
//! its [`PROTOCOL_VERSION`]; the daemon answers [`ServerFrame::Welcome`], or
//! [`ServerFrame::Refused`] and closes. Then the client sends requests, each with an
//! id; the daemon answers each with a [`ServerFrame::Response`] carrying the same id.
//! After a [`Request::Subscribe`], the daemon also pushes [`ServerFrame::Event`]s.
//! A [`Request::Backup`] is answered by [`ServerFrame::Chunk`]s carrying the backup
//! file, then its response.
//! One frame per line; lines longer than [`MAX_REQUEST_LINE`] (client to daemon) are
//! refused.

use crate::api::{ApiTokenView, KeyView, UserView};
use serde::{Deserialize, Serialize};

/// Version of this protocol; both sides must speak the same one.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest line the daemon reads from a client, newline included.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Longest line a client reads from the daemon (large lists and audit pages).
pub const MAX_RESPONSE_LINE: usize = 16 * 1024 * 1024;
/// Most entries one page of a list holds.
pub const MAX_PAGE: usize = 1_000;
/// Entries in a page when the client names no limit.
pub const DEFAULT_PAGE: usize = 100;

/// Which page of a list: at most `limit` entries, those after the key `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// How many entries at most, 1 to [`MAX_PAGE`].
    pub limit: usize,
    /// The key of the last entry of the previous page; none for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame of every connection.
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        version: u32,
        /// Free-form client name and version, for the daemon's log.
        client: String,
    },
    /// A request; answered by a response with the same id.
    Request {
        /// Chosen by the client to match the response.
        id: u64,
        /// What to do.
        call: Request,
    },
}

/// Frames the daemon sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrame {
    /// Handshake accepted.
    Welcome {
        /// The daemon's [`PROTOCOL_VERSION`].
        version: u32,
        /// The daemon's version.
        daemon: String,
    },
    /// Handshake refused (wrong version, not a hello); the daemon closes next.
    Refused {
        /// Why.
        error: AdminError,
    },
    /// The answer to request `id`.
    Response {
        /// The request's id (0 when the request could not be parsed).
        id: u64,
        /// Success or failure.
        outcome: Outcome,
    },
    /// Something happened (after [`Request::Subscribe`]).
    Event {
        /// What.
        event: Event,
    },
    /// The next piece of the backup file requested by request `id`, in order.
    Chunk {
        /// The [`Request::Backup`]'s id.
        id: u64,
        /// The bytes, standard base64 with padding.
        data: String,
    },
}

/// Result of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done; here is the answer.
    Ok(Reply),
    /// Refused or failed.
    Error(AdminError),
}

/// Operations of the console (see README, "The console"). Users are named by username or email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Daemon status.
    Status,
    /// The live part of the status (counters and gauges), cheap enough to poll.
    Activity,
    /// Users. With `page`: one page in the order of their lower-cased usernames, and
    /// `search` matches the start of the username or email, case-insensitively; the
    /// answer is [`Reply::UserPage`]. Without (older consoles): every user, and
    /// `search` matches anywhere in the username, email or display name.
    UserList {
        /// Case-insensitive prefix (with `page`) or substring (without).
        search: Option<String>,
        /// Which page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<Page>,
    },
    /// One user.
    UserShow {
        /// Username or email.
        name: String,
    },
    /// Creates a user (works while registration is closed).
    UserAdd {
        /// Username.
        name: String,
        /// Email address.
        email: String,
        /// Role; default `user`.
        role: Option<String>,
        /// Display name; default the username.
        display_name: Option<String>,
        /// Initial password.
        password: Password,
    },
    /// Queues a verification message to the user's address.
    UserSendVerification {
        /// Username or email.
        name: String,
    },
    /// Queues a password-reset message to the user's address.
    UserSendReset {
        /// Username or email.
        name: String,
    },
    /// The clients a user consented to at the consent page.
    UserGrants {
        /// Username or email.
        name: String,
    },
    /// Removes a user's consent to a client and revokes that client's sessions and
    /// tokens for the user.
    UserRevokeGrant {
        /// Username or email.
        name: String,
        /// The client.
        client_id: String,
    },
    /// Changes a user's role; their sessions are revoked so new tokens carry it.
    UserSetRole {
        /// Username or email.
        name: String,
        /// New role.
        role: String,
    },
    /// Disables a user and revokes their sessions for good.
    UserDisable {
        /// Username or email.
        name: String,
    },
    /// Removes every second factor and recovery code of a user and ends their
    /// sessions (a lost phone); answers the sessions ended.
    UserResetMfa {
        /// Username or email.
        name: String,
    },
    /// Enables a disabled user (revoked sessions stay revoked).
    UserEnable {
        /// Username or email.
        name: String,
    },
    /// Deletes a user with their sessions.
    UserDelete {
        /// Username or email.
        name: String,
    },
    /// Sets a password and revokes every session of the user.
    UserSetPassword {
        /// Username or email.
        name: String,
        /// New password.
        password: Password,
    },
    /// Live sessions, optionally of one user. With `page`: one page in id order, and
    /// `search` matches the start of the username, case-insensitively; the answer is
    /// [`Reply::SessionPage`]. Without (older consoles): every live session.
    SessionList {
        /// Username or email.
        name: Option<String>,
        /// Case-insensitive prefix of the username (with `page`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        search: Option<String>,
        /// Which page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<Page>,
    },
    /// Revokes one session.
    SessionRevoke {
        /// Session id.
        id: String,
    },
    /// Revokes every session of a user.
    SessionRevokeAll {
        /// Username or email.
        name: String,
    },
    /// Turns guest mode on or off (stored; survives restarts).
    GuestSet {
        /// New state.
        enabled: bool,
    },
    /// Guest mode state.
    GuestStatus,
    /// Opens or closes registration (stored; survives restarts).
    RegistrationSet {
        /// New state.
        open: bool,
    },
    /// Registration state.
    RegistrationStatus,
    /// API tokens, optionally of one user. With `page`: one page in id order; the
    /// answer is [`Reply::TokenPage`]. Without (older consoles): every one.
    TokenList {
        /// Username or email.
        name: Option<String>,
        /// Case-insensitive prefix of the owner's username (with `page`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        search: Option<String>,
        /// Which page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<Page>,
    },
    /// Deletes an API token.
    TokenRevoke {
        /// Token id.
        id: String,
    },
    /// Registers an OAuth client; its secret is in the answer, once.
    ClientAdd {
        /// Client id: 1-64 of `[A-Za-z0-9._-]`.
        client_id: String,
        /// Scopes the client may be granted (each must belong to a configured role).
        scopes: Vec<String>,
        /// Where the authorization code flow may send people back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        redirect_uris: Vec<String>,
        /// Where `/oauth/logout` may send people back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        post_logout_redirect_uris: Vec<String>,
        /// No secret: a single-page or native app.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        public: bool,
        /// Skips the consent page.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        first_party: bool,
        /// How its ID tokens are signed.
        #[serde(default)]
        id_token_signed_response_alg: crate::oauth::IdTokenAlg,
    },
    /// OAuth clients.
    ClientList,
    /// Removes an OAuth client.
    ClientRemove {
        /// Client id.
        client_id: String,
    },
    /// Gives a confidential client a new secret, in the answer
    /// ([`Reply::ClientCreated`]) once; the old one keeps working `grace_seconds`
    /// (0: stops at once; at most 30 days).
    ClientRotateSecret {
        /// Client id.
        client_id: String,
        /// Seconds the old secret keeps working.
        #[serde(default)]
        grace_seconds: u64,
    },
    /// Signing keys.
    KeyList,
    /// Makes a new signing key; the previous one goes `retiring`.
    KeyRotate,
    /// The newest audit entries, oldest first. With `page`: one page, newest first,
    /// of the entries older than the sequence number `page.after` (a decimal string);
    /// the answer is [`Reply::AuditPage`] and `limit` is not used.
    Audit {
        /// How many (default 50).
        limit: Option<usize>,
        /// Which page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<Page>,
    },
    /// Starts pushing [`ServerFrame::Event`]s on this connection.
    Subscribe,
    /// A backup of the running daemon's store: the file comes as
    /// [`ServerFrame::Chunk`]s, then the response is [`Reply::Backup`].
    Backup,
}

/// A password in transit; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Answers to requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// To [`Request::Status`] (boxed: by far the largest answer).
    Status(Box<StatusView>),
    /// To [`Request::Activity`].
    Activity(Activity),
    /// A list of users.
    Users(Vec<AdminUser>),
    /// A page of users.
    UserPage {
        /// The page's users.
        users: Vec<AdminUser>,
        /// The cursor of the next page (the last user's username); none when no user
        /// follows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// One user.
    User(AdminUser),
    /// A list of sessions.
    Sessions(Vec<SessionView>),
    /// A page of sessions.
    SessionPage {
        /// The page's sessions.
        sessions: Vec<SessionView>,
        /// The cursor of the next page (the last session's id); none when no session
        /// follows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// How many things an operation changed (sessions revoked, …).
    Count(u64),
    /// Guest mode state.
    Guest {
        /// On or off.
        enabled: bool,
    },
    /// Registration state.
    Registration {
        /// Open or closed.
        open: bool,
    },
    /// API tokens.
    ApiTokens(Vec<AdminApiToken>),
    /// A page of API tokens.
    TokenPage {
        /// The page's tokens.
        tokens: Vec<AdminApiToken>,
        /// The cursor of the next page (the last token's id); none when no token
        /// follows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// OAuth clients.
    Clients(Vec<ClientView>),
    /// A new client with its secret (shown this once).
    ClientCreated(ClientCreated),
    /// Signing keys.
    Keys(Vec<KeyView>),
    /// Audit entries, oldest first.
    Audit(Vec<AuditEntry>),
    /// A page of audit entries, newest first.
    AuditPage {
        /// The page's entries.
        entries: Vec<AuditEntry>,
        /// The cursor of the next page (the oldest entry's sequence number); none when
        /// no older entry is kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// A user's consents.
    Grants(Vec<GrantView>),
    /// A backup was sent (after its chunks).
    Backup(BackupView),
    /// Done, nothing to show.
    Done,
}

/// A user's consent to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// The client.
    pub client_id: String,
    /// Scopes consented to.
    pub scopes: Vec<String>,
    /// When consent was last given, RFC 3339.
    pub granted_at: String,
}

/// What a backup sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupView {
    /// Bytes of the file, every chunk together.
    pub bytes: u64,
    /// Entries (values and removals), every tree together.
    pub entries: u64,
    /// Of those, the changes made while the backup ran, written after the copy.
    pub changed: u64,
    /// The store's schema version.
    pub schema: u32,
    /// The backup file format's version.
    pub format: u16,
}

/// A user as the console sees it: the HTTP `user` object plus account state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    /// The HTTP `user` fields.
    #[serde(flatten)]
    pub user: UserView,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// When the user last opened a session (login or registration), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Owner's id.
    pub user_id: String,
    /// Owner's username.
    pub username: String,
    /// Scopes granted at login.
    pub scopes: Vec<String>,
    /// Login time, RFC 3339.
    pub created_at: String,
    /// Hard end, RFC 3339.
    pub expires_at: String,
    /// `app` (tokens held by an app) or `browser` (signed in at Tessera's pages).
    #[serde(default = "app_kind")]
    pub kind: String,
    /// The OAuth client the session's tokens were issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

fn app_kind() -> String {
    "app".into()
}

/// An API token with its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminApiToken {
    /// The token as its owner sees it.
    #[serde(flatten)]
    pub token: ApiTokenView,
    /// Owner's id.
    pub user_id: String,
    /// Owner's username.
    pub username: String,
}

/// A registered OAuth client (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    /// Client id.
    pub client_id: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Where the authorization code flow may send people back.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where `/oauth/logout` may send people back.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret (single-page and native apps).
    #[serde(default)]
    pub public: bool,
    /// Skips the consent page.
    #[serde(default)]
    pub first_party: bool,
    /// How its ID tokens are signed.
    #[serde(default)]
    pub id_token_signed_response_alg: crate::oauth::IdTokenAlg,
}

/// A client just registered, with the only copy of its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCreated {
    /// Client id.
    pub client_id: String,
    /// `tsr_cs_…`; the daemon keeps only its digest. None for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ClientCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCreated")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Daemon status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// Daemon version.
    pub version: String,
    /// Uptime, counters and gauges.
    #[serde(flatten)]
    pub activity: Activity,
    /// Registered users.
    pub users: u64,
    /// API tokens.
    pub api_tokens: u64,
    /// OAuth clients.
    pub clients: u64,
    /// Guest mode.
    pub guest_enabled: bool,
    /// Registration.
    pub registration_open: bool,
    /// Ids of the published keys, active first.
    pub key_ids: Vec<String>,
    /// Configured role names, sorted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The store's files on disk, in bytes.
    #[serde(default)]
    pub store_bytes: u64,
    /// Stored records, by kind.
    #[serde(default)]
    pub records: RecordCounts,
    /// The last `tesserad compact` of the embedded store, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compacted: Option<Compaction>,
}

/// What `tesserad compact` did, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// When, RFC 3339.
    pub at: String,
    /// The store's bytes on disk before.
    pub before_bytes: u64,
    /// Its bytes right after.
    pub after_bytes: u64,
}

/// How many records of each kind the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordCounts {
    /// Users.
    pub users: u64,
    /// Sessions not revoked.
    pub sessions: u64,
    /// Refresh-token records (rotated ones included, until they expire).
    pub refresh_tokens: u64,
    /// API tokens.
    pub api_tokens: u64,
    /// OAuth clients.
    pub clients: u64,
    /// Deny-list entries (revoked access tokens not yet expired).
    pub denied: u64,
    /// Audit entries.
    pub audit: u64,
}

/// What changes from second to second: polled by the console for its charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Live sessions.
    pub sessions: u64,
    /// Password hashes running or waiting for a hashing thread.
    #[serde(default)]
    pub hash_queue: u64,
    /// Activity since start.
    pub counters: Counters,
}

/// Running totals since the daemon started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Successful logins and registrations.
    pub logins: u64,
    /// Failed logins (wrong password, unknown account, disabled account).
    pub failures: u64,
    /// Refresh-token rotations.
    pub refreshes: u64,
    /// Access tokens signed (every grant: login, refresh, guest, client, …).
    #[serde(default)]
    pub issued: u64,
    /// Replayed refresh tokens (each revokes its session).
    #[serde(default)]
    pub reuse_detected: u64,
    /// Revocations: logouts, reuse detection, RFC 7009 revocations, API-token deletions
    /// and operator actions that end sessions or tokens (one per event).
    pub revocations: u64,
    /// Operator actions on the admin socket.
    pub admin_actions: u64,
}

/// One audit-trail entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the trail: increases by one with each entry, so a client that
    /// subscribes and then reads the tail can drop what it got twice.
    #[serde(default)]
    pub seq: u64,
    /// When, RFC 3339.
    pub at: String,
    /// What, e.g. `login.success`, `admin.user.disable`.
    pub event: String,
    /// Account concerned, if any: a user id, a client id or a key id.
    pub subject: Option<String>,
    /// The username of the user `subject` names, while that user exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Client address (HTTP) or `uid=N` (admin socket).
    pub origin: Option<String>,
    /// Extra context.
    pub detail: Option<String>,
    /// The id of the HTTP request or admin call that caused it (the `X-Request-Id` of
    /// its answer, and the `id` of its log lines' span).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A pushed event: an audit entry as it happens.
pub type Event = AuditEntry;

/// Error codes of the admin protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The line was not a valid frame, or a field is invalid.
    InvalidRequest,
    /// The line is longer than [`MAX_REQUEST_LINE`].
    LineTooLong,
    /// Client and daemon speak different protocol versions.
    VersionMismatch,
    /// The first frame was not a hello.
    HandshakeRequired,
    /// No such user, session, key, ….
    NotFound,
    /// A username or email is taken.
    Conflict,
    /// The daemon failed; see its log.
    Internal,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
}

impl AdminError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Encodes a frame as one line, newline included.
pub fn encode<T: Serialize>(frame: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(frame)?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests;
