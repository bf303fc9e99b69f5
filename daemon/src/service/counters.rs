//! The activity counters since start (the console's Overview and the metrics), counted
//! without locks, with their labels (why a session ended, what kind of token was
//! handed out); [`super::audit`] says which counters each event moves.

use crate::mail::MailKind;
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_common::admin::Counters;

/// Why a session or token ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The holder logged out.
    Logout,
    /// A rotated refresh token was replayed.
    Reuse,
    /// RFC 7009 revocation at `/oauth/revoke`.
    Revoke,
    /// The owner deleted an API token.
    Owner,
    /// An operator action (revoke, revoke-all, disable, delete, set-password, set-role).
    Operator,
    /// A password reset by mail link.
    Reset,
}

impl Cause {
    /// Every cause, in a fixed order.
    pub const ALL: [Cause; 6] = [
        Self::Logout,
        Self::Reuse,
        Self::Revoke,
        Self::Owner,
        Self::Operator,
        Self::Reset,
    ];

    /// Its name in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Reuse => "reuse",
            Self::Revoke => "revoke",
            Self::Owner => "owner",
            Self::Operator => "operator",
            Self::Reset => "reset",
        }
    }

    /// Its position in [`Self::ALL`] (the declaration order).
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// What kind of token was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token of a user's session.
    Access,
    /// A guest token.
    Guest,
    /// A client-credentials token.
    Client,
    /// A refresh token (a new session's first, or a rotation's).
    Refresh,
    /// A persistent API token.
    Api,
}

impl TokenKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TokenKind; 5] = [Self::Access, Self::Guest, Self::Client, Self::Refresh, Self::Api];

    /// Its name in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Guest => "guest",
            Self::Client => "client",
            Self::Refresh => "refresh",
            Self::Api => "api",
        }
    }

    /// Its position in [`Self::ALL`] (the declaration order).
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// An activity counter (the console's Overview and the metrics).
#[derive(Debug, Clone, Copy)]
pub(super) enum Counter {
    Logins,
    Failures,
    /// Logins refused by the throttle before any hashing.
    Throttled,
    /// Logins refused because the password hasher was full.
    Overloaded,
    /// Right passwords whose login waits for a second factor.
    MfaRequired,
    /// Wrong second factors.
    MfaFailed,
    Refreshes,
    Issued(TokenKind),
    ReuseDetected,
    Revocations(Cause),
    AdminActions,
    /// A message was sent.
    MailSent(MailKind),
    /// A message finally failed or was dropped.
    MailFailed(MailKind),
}

/// The activity counters since start.
#[derive(Debug, Default)]
pub(super) struct Tally {
    logins: AtomicU64,
    failures: AtomicU64,
    throttled: AtomicU64,
    overloaded: AtomicU64,
    mfa_required: AtomicU64,
    mfa_failed: AtomicU64,
    refreshes: AtomicU64,
    issued: [AtomicU64; TokenKind::ALL.len()],
    reuse_detected: AtomicU64,
    revocations: [AtomicU64; Cause::ALL.len()],
    admin_actions: AtomicU64,
    mail_sent: [AtomicU64; MailKind::ALL.len()],
    mail_failed: [AtomicU64; MailKind::ALL.len()],
}

/// Everything [`Tally`] counts, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Successful logins and registrations.
    pub logins: u64,
    /// Failed logins.
    pub failures: u64,
    /// Logins refused by the throttle.
    pub throttled: u64,
    /// Logins refused because the hasher was full.
    pub overloaded: u64,
    /// Right passwords whose login waited for a second factor.
    pub mfa_required: u64,
    /// Wrong second factors.
    pub mfa_failed: u64,
    /// Refresh-token rotations.
    pub refreshes: u64,
    /// Tokens handed out, by [`TokenKind::ALL`] order.
    pub issued: [u64; TokenKind::ALL.len()],
    /// Replayed refresh tokens.
    pub reuse_detected: u64,
    /// Events that ended a session or token early, by [`Cause::ALL`] order.
    pub revocations: [u64; Cause::ALL.len()],
    /// Operator actions.
    pub admin_actions: u64,
    /// Messages sent, by [`MailKind::ALL`] order.
    pub mail_sent: [u64; MailKind::ALL.len()],
    /// Messages that finally failed or were dropped, by [`MailKind::ALL`] order.
    pub mail_failed: [u64; MailKind::ALL.len()],
}

impl Tally {
    /// Adds one to `counter`.
    pub(super) fn bump(&self, counter: Counter) {
        let cell = match counter {
            Counter::Logins => &self.logins,
            Counter::Failures => &self.failures,
            Counter::Throttled => &self.throttled,
            Counter::Overloaded => &self.overloaded,
            Counter::MfaRequired => &self.mfa_required,
            Counter::MfaFailed => &self.mfa_failed,
            Counter::Refreshes => &self.refreshes,
            Counter::Issued(kind) => &self.issued[kind.index()],
            Counter::ReuseDetected => &self.reuse_detected,
            Counter::Revocations(cause) => &self.revocations[cause.index()],
            Counter::AdminActions => &self.admin_actions,
            Counter::MailSent(kind) => &self.mail_sent[kind as usize],
            Counter::MailFailed(kind) => &self.mail_failed[kind as usize],
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    /// Every count.
    pub(super) fn totals(&self) -> Totals {
        let get = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        Totals {
            logins: get(&self.logins),
            failures: get(&self.failures),
            throttled: get(&self.throttled),
            overloaded: get(&self.overloaded),
            mfa_required: get(&self.mfa_required),
            mfa_failed: get(&self.mfa_failed),
            refreshes: get(&self.refreshes),
            issued: std::array::from_fn(|i| get(&self.issued[i])),
            reuse_detected: get(&self.reuse_detected),
            revocations: std::array::from_fn(|i| get(&self.revocations[i])),
            admin_actions: get(&self.admin_actions),
            mail_sent: std::array::from_fn(|i| get(&self.mail_sent[i])),
            mail_failed: std::array::from_fn(|i| get(&self.mail_failed[i])),
        }
    }

    /// The counters as the console shows them: `issued` counts signed access tokens
    /// (session, guest and client).
    pub(super) fn snapshot(&self) -> Counters {
        let t = self.totals();
        let signed = [TokenKind::Access, TokenKind::Guest, TokenKind::Client];
        Counters {
            logins: t.logins,
            failures: t.failures,
            refreshes: t.refreshes,
            issued: signed.iter().map(|k| t.issued[k.index()]).sum(),
            reuse_detected: t.reuse_detected,
            revocations: t.revocations.iter().sum(),
            admin_actions: t.admin_actions,
        }
    }
}
