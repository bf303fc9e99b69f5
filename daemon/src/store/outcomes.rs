//! What store operations answer, whichever backend runs them.

use crate::records::{CodeRecord, LinkKind, LinkRecord, RefreshRecord, UserRecord};
use uuid::Uuid;

/// How long an expired API token stays listed (so its owner sees why it stopped
/// working) before the purge deletes it: 30 days.
pub const EXPIRED_API_TOKEN_KEPT: i64 = 30 * 86_400;

/// How many audit entries are kept; older ones are dropped as new ones arrive.
pub const AUDIT_CAPACITY: u64 = 10_000;

/// How long a code is kept after it expires, to recognise its reuse.
pub const CODE_KEPT: i64 = 3600;

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// Unused until now; marked used, bound to the session about to be opened.
    Fresh(CodeRecord),
    /// Used before: the record holds the session its first exchange opened.
    Reused(CodeRecord),
    /// Unknown (or purged).
    Unknown,
}

/// What using a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkUse {
    /// Used now: the user as changed.
    Used(UserRecord),
    /// Used before; the user as stored now (`None`: deleted).
    UsedBefore(Option<UserRecord>),
    /// Unknown, of the other kind, expired, voided, or its user is gone or disabled.
    Invalid,
}

impl LinkUse {
    /// Whether `link`, presented as a `kind` link at `now`, can be used for its user as
    /// stored (`user`): [`LinkUse::Used`] with the user to change, or what to answer
    /// instead. Another kind or expired first, then used before, then a user gone,
    /// disabled or whose address changed since it was sent.
    pub fn check(link: &LinkRecord, kind: LinkKind, now: i64, user: Option<UserRecord>) -> Self {
        if link.kind != kind || link.expires_at <= now {
            return LinkUse::Invalid;
        }
        if link.used_at.is_some() {
            return LinkUse::UsedBefore(user);
        }
        match user.filter(|u| !u.disabled && u.email.eq_ignore_ascii_case(&link.email)) {
            Some(user) => LinkUse::Used(user),
            None => LinkUse::Invalid,
        }
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now dead and the new one stored.
    Rotated,
    /// The token had already been exchanged: a replay. Nothing was written.
    Reused {
        /// The session the token belonged to.
        session_id: Uuid,
    },
    /// Unknown token, or its session is revoked. Nothing was written.
    Invalid,
}

/// What a new session starts with.
#[derive(Debug, Clone, Copy)]
pub enum SessionStart<'a> {
    /// An app session: its first refresh token's digest and record.
    Refresh(&'a [u8; 32], &'a RefreshRecord),
    /// A browser session: its cookie's digest (see [`super::browser`]).
    Cookie(&'a [u8; 32]),
}

/// `until` of a disabled user's entry: it stays while they are disabled.
pub const FOR_GOOD: i64 = i64::MAX;

/// A revoked session whose access tokens may not all have expired yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    /// The session.
    pub session_id: Uuid,
    /// When its last access token expires at the latest.
    pub until: i64,
}

/// A user whose tokens must fail: disabled, or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barred {
    /// The user.
    pub user_id: Uuid,
    /// When the entry can go ([`FOR_GOOD`] while disabled).
    pub until: i64,
}

/// What [`Store::purge_expired`](super::Store::purge_expired) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Sessions past their maximum age.
    pub sessions: usize,
    /// Refresh tokens past their expiry.
    pub refresh_tokens: usize,
    /// API tokens expired more than [`EXPIRED_API_TOKEN_KEPT`] ago.
    pub api_tokens: usize,
    /// Deny-list entries whose token has expired.
    pub denied: usize,
    /// Revoked sessions and barred users no unexpired token can belong to any more.
    pub revocations: usize,
    /// Link tokens past their expiry.
    pub links: usize,
    /// Authorization codes expired more than [`CODE_KEPT`] ago.
    pub codes: usize,
    /// Browser cookies whose session ended.
    pub browser_cookies: usize,
    /// Logins that waited for a second factor past their expiry.
    pub mfa_tokens: usize,
}

/// The unique indexes of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// `users_by_name`.
    Username,
    /// `users_by_email`.
    Email,
    /// `clients`.
    ClientId,
    /// The one signing key not retired.
    ActiveKey,
}

impl std::fmt::Display for Unique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unique::Username => "username",
            Unique::Email => "email",
            Unique::ClientId => "client id",
            Unique::ActiveKey => "the active signing key",
        })
    }
}

/// A change another daemon's in-memory view must learn (a shared store's change log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A session was revoked.
    SessionRevoked(Revoked),
    /// A user was disabled or deleted.
    UserBarred(Barred),
    /// A disabled user was enabled again.
    UserAdmitted(Uuid),
    /// An access token was revoked: its jti and expiry.
    Denied(String, i64),
    /// An operator changed the setting of this name.
    Setting(String),
    /// The signing keys changed (rotation, retirement).
    Keys,
    /// A client was removed or its secret replaced: credentials checked before are
    /// to be checked again.
    ClientChanged(String),
}
