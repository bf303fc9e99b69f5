//! The audit trail: one typed event per thing worth recording, each knowing its wire
//! name, its subject and detail, and which activity counters it moves.

use super::counters::{Cause, Counter};
use super::{Operator, Service};
use crate::mail::MailKind;
use crate::store::AuditRecord;
use tessera_common::admin::AuditEntry;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Where a password was typed: the JSON API (and the OAuth password grant), or the
/// sign-in page of the authorization code flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAt {
    /// `POST /api/auth/token` or `grant_type=password`.
    Api,
    /// The login page at `/oauth/authorize`.
    Page,
}

/// Something that happened, as the audit trail records it.
#[derive(Debug, Clone)]
pub(super) enum AuditEvent {
    /// A user registered (and got a session).
    Register { user: Uuid, username: String },
    /// A password login opened a session (at the API, or the sign-in page).
    LoginSuccess { user: Uuid, at: LoginAt },
    /// A login failed; `account` is the user id, or a digest of an unknown name.
    LoginFailure {
        account: String,
        reason: &'static str,
        at: LoginAt,
    },
    /// A disabled account gave the right password.
    LoginDisabled { user: Uuid },
    /// A refresh token was rotated.
    Refresh { user: Uuid, session: Uuid },
    /// A rotated refresh token came back; its session is revoked.
    RefreshReuse { session: Uuid },
    /// A user logged out.
    Logout { user: Uuid, session: Uuid },
    /// RFC 7009 revocation of a refresh token: its session ends.
    RevokeSession { session: Uuid },
    /// RFC 7009 revocation of an API token.
    RevokeApiToken { user: Uuid, token: String },
    /// RFC 7009 revocation of an access token (deny-listed until it expires).
    RevokeAccessToken { subject: String, jti: String },
    /// A user created an API token.
    ApiTokenCreate { user: Uuid, token: String },
    /// A user deleted one of their API tokens.
    ApiTokenDelete { user: Uuid, token: String },
    /// The operator added a user.
    UserAdd { user: Uuid, username: String },
    /// The operator changed a user's role (their sessions end).
    UserSetRole { user: Uuid, role: String },
    /// The operator disabled a user (their sessions end).
    UserDisable { user: Uuid, username: String },
    /// The operator enabled a user.
    UserEnable { user: Uuid, username: String },
    /// The operator deleted a user (their sessions and API tokens go with them).
    UserDelete { user: Uuid, username: String },
    /// The operator set a user's password; `revoked` sessions ended.
    UserSetPassword { user: Uuid, revoked: u64 },
    /// The operator revoked one session.
    SessionRevoke { user: Uuid, session: Uuid },
    /// The operator revoked all of a user's sessions.
    SessionRevokeAll { user: Uuid, revoked: u64 },
    /// The operator removed a user's second factors; `revoked` sessions ended.
    UserResetMfa { user: Uuid, revoked: u64 },
    /// The operator revoked an API token.
    AdminApiTokenRevoke { user: Uuid, token: String },
    /// The operator turned guest mode on or off.
    Guest { enabled: bool },
    /// The operator opened or closed registration.
    Registration { open: bool },
    /// The operator rotated the signing key.
    KeyRotate { kid: String },
    /// The operator registered an OAuth client.
    ClientAdd { client: String, scopes: Vec<String> },
    /// The operator removed an OAuth client.
    ClientRemove { client: String },
    /// The operator gave a client a new secret; the old one works `grace_seconds` more.
    ClientRotateSecret { client: String, grace_seconds: u64 },
    /// The operator took a backup of the running daemon's store.
    Backup { entries: u64 },
    /// A verification link confirmed the user's address.
    EmailVerified { user: Uuid },
    /// A reset link set the user's password; `revoked` sessions ended.
    PasswordReset { user: Uuid, revoked: u64 },
    /// A user changed their password; `revoked` other sessions ended.
    PasswordChanged { user: Uuid, revoked: u64 },
    /// A message could not be sent (finally, or the queue was full).
    MailFailed { user: Uuid, kind: MailKind, reason: String },
    /// The user allowed a client the scopes at the consent page.
    ConsentGranted {
        user: Uuid,
        client: String,
        scopes: Vec<String>,
    },
    /// The user denied a client at the consent page.
    ConsentDenied { user: Uuid, client: String },
    /// An authorization code was issued.
    CodeIssued { user: Uuid, client: String },
    /// A used authorization code came back; the tokens from it are revoked.
    CodeReuse { user: Uuid, client: String },
    /// The operator removed a user's consent to a client; `revoked` sessions ended.
    GrantRevoked { user: Uuid, client: String, revoked: u64 },
    /// A right password for a user with a second factor: the login waits for it.
    MfaRequired { user: Uuid, at: LoginAt },
    /// A login's second factor was right: the session opened.
    MfaSuccess { user: Uuid, at: LoginAt },
    /// A login's second factor was wrong.
    MfaFailure { user: Uuid },
    /// A recovery code was used.
    MfaRecoveryUsed { user: Uuid },
    /// A user confirmed TOTP.
    MfaTotpAdded { user: Uuid },
    /// A user removed TOTP (and with it the recovery codes).
    MfaTotpRemoved { user: Uuid },
    /// A user made a new set of recovery codes.
    MfaRecoveryRegenerated { user: Uuid },
    /// The operator sent the user a verification message.
    UserSendVerification { user: Uuid },
    /// The operator sent the user a password-reset message.
    UserSendReset { user: Uuid },
}

impl AuditEvent {
    /// The event's name in the trail.
    pub(super) fn name(&self) -> &'static str {
        use AuditEvent as E;
        match self {
            E::Register { .. } => "register",
            E::LoginSuccess { at: LoginAt::Api, .. } => "login.success",
            E::LoginSuccess { at: LoginAt::Page, .. } => "login.page.success",
            E::LoginFailure { at: LoginAt::Api, .. } => "login.failure",
            E::LoginFailure { at: LoginAt::Page, .. } => "login.page.failure",
            E::LoginDisabled { .. } => "login.disabled",
            E::Refresh { .. } => "token.refresh",
            E::RefreshReuse { .. } => "token.reuse",
            E::Logout { .. } => "logout",
            E::RevokeSession { .. } | E::RevokeApiToken { .. } | E::RevokeAccessToken { .. } => "token.revoke",
            E::ApiTokenCreate { .. } => "api_token.create",
            E::ApiTokenDelete { .. } => "api_token.delete",
            E::UserAdd { .. } => "admin.user.add",
            E::UserSetRole { .. } => "admin.user.set_role",
            E::UserDisable { .. } => "admin.user.disable",
            E::UserEnable { .. } => "admin.user.enable",
            E::UserDelete { .. } => "admin.user.delete",
            E::UserSetPassword { .. } => "admin.user.set_password",
            E::SessionRevoke { .. } => "admin.session.revoke",
            E::SessionRevokeAll { .. } => "admin.session.revoke_all",
            E::UserResetMfa { .. } => "admin.user.reset_mfa",
            E::AdminApiTokenRevoke { .. } => "admin.api_token.revoke",
            E::Guest { enabled: true } => "admin.guest.on",
            E::Guest { enabled: false } => "admin.guest.off",
            E::Registration { open: true } => "admin.registration.open",
            E::Registration { open: false } => "admin.registration.closed",
            E::KeyRotate { .. } => "admin.key.rotate",
            E::ClientAdd { .. } => "admin.client.add",
            E::ClientRemove { .. } => "admin.client.remove",
            E::ClientRotateSecret { .. } => "admin.client.rotate_secret",
            E::Backup { .. } => "admin.backup",
            E::EmailVerified { .. } => "email.verified",
            E::ConsentGranted { .. } => "consent.granted",
            E::ConsentDenied { .. } => "consent.denied",
            E::CodeIssued { .. } => "code.issued",
            E::CodeReuse { .. } => "code.reuse",
            E::GrantRevoked { .. } => "admin.user.revoke_grant",
            E::PasswordReset { .. } => "password.reset",
            E::PasswordChanged { .. } => "password.change",
            E::MailFailed { .. } => "mail.failed",
            E::UserSendVerification { .. } => "admin.user.send_verification",
            E::UserSendReset { .. } => "admin.user.send_reset",
            E::MfaRequired { at: LoginAt::Api, .. } => "login.mfa.required",
            E::MfaRequired { at: LoginAt::Page, .. } => "login.page.mfa.required",
            E::MfaSuccess { at: LoginAt::Api, .. } => "login.mfa.success",
            E::MfaSuccess { at: LoginAt::Page, .. } => "login.page.mfa.success",
            E::MfaFailure { .. } => "login.mfa.failure",
            E::MfaRecoveryUsed { .. } => "mfa.recovery.used",
            E::MfaTotpAdded { .. } => "mfa.totp.added",
            E::MfaTotpRemoved { .. } => "mfa.totp.removed",
            E::MfaRecoveryRegenerated { .. } => "mfa.recovery.regenerated",
        }
    }

    /// Who or what the event is about, and what else it says.
    fn subject_and_detail(self) -> (Option<String>, Option<String>) {
        use AuditEvent as E;
        let id = |u: Uuid| Some(u.to_string());
        match self {
            E::Register { user, username }
            | E::UserAdd { user, username }
            | E::UserDisable { user, username }
            | E::UserEnable { user, username }
            | E::UserDelete { user, username } => (id(user), Some(username)),
            E::LoginSuccess { user, .. } | E::LoginDisabled { user } => (id(user), None),
            E::LoginFailure { account, reason, .. } => (Some(account), Some(reason.to_owned())),
            E::Refresh { user, session } | E::Logout { user, session } | E::SessionRevoke { user, session } => {
                (id(user), Some(format!("session {session}")))
            }
            E::RefreshReuse { session } => (None, Some(format!("session {session} revoked"))),
            E::RevokeSession { session } => (None, Some(format!("session {session}"))),
            E::RevokeApiToken { user, token } => (id(user), Some(format!("api token {token}"))),
            E::RevokeAccessToken { subject, jti } => (Some(subject), Some(format!("access token {jti}"))),
            E::ApiTokenCreate { user, token }
            | E::ApiTokenDelete { user, token }
            | E::AdminApiTokenRevoke { user, token } => (id(user), Some(format!("token {token}"))),
            E::UserSetRole { user, role } => (id(user), Some(role)),
            E::UserSetPassword { user, revoked } => (id(user), Some(format!("{revoked} sessions revoked"))),
            E::SessionRevokeAll { user, revoked } => (id(user), Some(format!("{revoked} revoked"))),
            E::UserResetMfa { user, revoked } => {
                (id(user), Some(format!("factors removed, {revoked} sessions revoked")))
            }
            E::Guest { .. } | E::Registration { .. } => (None, None),
            E::KeyRotate { kid } => (None, Some(kid)),
            E::ClientAdd { client, scopes } => (Some(client), Some(scopes.join(" "))),
            E::ClientRemove { client } => (Some(client), None),
            E::ClientRotateSecret {
                client,
                grace_seconds: 0,
            } => (Some(client), Some("the old secret stopped".into())),
            E::ClientRotateSecret { client, grace_seconds } => (
                Some(client),
                Some(format!("the old secret works {grace_seconds} s more")),
            ),
            E::Backup { entries } => (None, Some(format!("{entries} entries"))),
            E::EmailVerified { user } => (id(user), None),
            E::ConsentGranted { user, client, scopes } => (id(user), Some(format!("{client}: {}", scopes.join(" ")))),
            E::ConsentDenied { user, client } | E::CodeIssued { user, client } => (id(user), Some(client)),
            E::CodeReuse { user, client } => (id(user), Some(format!("{client}: its tokens revoked"))),
            E::GrantRevoked { user, client, revoked } => {
                (id(user), Some(format!("{client}: {revoked} sessions revoked")))
            }
            E::PasswordReset { user, revoked } | E::PasswordChanged { user, revoked } => {
                (id(user), Some(format!("{revoked} sessions revoked")))
            }
            E::MailFailed { user, kind, reason } => (id(user), Some(format!("{} message: {reason}", kind.name()))),
            E::UserSendVerification { user } | E::UserSendReset { user } => (id(user), None),
            E::MfaRequired { user, .. }
            | E::MfaSuccess { user, .. }
            | E::MfaFailure { user }
            | E::MfaRecoveryUsed { user }
            | E::MfaTotpAdded { user }
            | E::MfaTotpRemoved { user }
            | E::MfaRecoveryRegenerated { user } => (id(user), None),
        }
    }

    /// The counters this event moves: every operator action counts as one, and
    /// every event that ends a session or token early counts as a revocation.
    pub(super) fn counters(&self) -> &'static [Counter] {
        use AuditEvent as E;
        use Counter as C;
        match self {
            E::Register { .. } | E::LoginSuccess { .. } | E::MfaSuccess { .. } => &[C::Logins],
            E::MfaRequired { .. } => &[C::MfaRequired],
            E::MfaFailure { .. } => &[C::MfaFailed],
            E::MfaRecoveryUsed { .. }
            | E::MfaTotpAdded { .. }
            | E::MfaTotpRemoved { .. }
            | E::MfaRecoveryRegenerated { .. } => &[],
            E::LoginFailure { .. } | E::LoginDisabled { .. } => &[C::Failures],
            E::Refresh { .. } => &[C::Refreshes],
            E::RefreshReuse { .. } => &[C::ReuseDetected, C::Revocations(Cause::Reuse)],
            E::Logout { .. } => &[C::Revocations(Cause::Logout)],
            E::RevokeSession { .. } | E::RevokeApiToken { .. } | E::RevokeAccessToken { .. } => {
                &[C::Revocations(Cause::Revoke)]
            }
            E::ApiTokenDelete { .. } => &[C::Revocations(Cause::Owner)],
            E::ApiTokenCreate { .. }
            | E::EmailVerified { .. }
            | E::MailFailed { .. }
            | E::ConsentGranted { .. }
            | E::ConsentDenied { .. }
            | E::CodeIssued { .. } => &[],
            E::CodeReuse { .. } => &[C::Revocations(Cause::Reuse)],
            E::PasswordReset { .. } | E::PasswordChanged { .. } => &[C::Revocations(Cause::Reset)],
            E::UserSetRole { .. }
            | E::UserDisable { .. }
            | E::UserDelete { .. }
            | E::UserSetPassword { .. }
            | E::SessionRevoke { .. }
            | E::SessionRevokeAll { .. }
            | E::UserResetMfa { .. }
            | E::AdminApiTokenRevoke { .. }
            | E::GrantRevoked { .. } => &[C::AdminActions, C::Revocations(Cause::Operator)],
            E::UserAdd { .. }
            | E::UserEnable { .. }
            | E::Guest { .. }
            | E::Registration { .. }
            | E::KeyRotate { .. }
            | E::ClientAdd { .. }
            | E::ClientRemove { .. }
            | E::ClientRotateSecret { .. }
            | E::Backup { .. }
            | E::UserSendVerification { .. }
            | E::UserSendReset { .. } => &[C::AdminActions],
        }
    }
}

impl Service {
    /// Appends `event` to the audit trail, moves its counters and tells subscribers;
    /// `origin` is the client address or the operator. A failure to store is logged,
    /// not fatal to the request (and the entry is not shown live: it has no number).
    /// The entry names the request or admin call it comes from
    /// ([`crate::request_id::current`]).
    pub(super) async fn audit(&self, event: AuditEvent, origin: Option<String>) {
        for &counter in event.counters() {
            self.counters.bump(counter);
        }
        let name = event.name();
        let (subject, detail) = event.subject_and_detail();
        let record = AuditRecord {
            at: self.now().unix_timestamp(),
            event: name.to_owned(),
            subject,
            origin,
            detail,
            request_id: crate::request_id::current().map(|id| id.as_str().to_owned()),
        };
        // The username is read only while someone watches, and before the entry is
        // numbered, so entries go out in the order they were numbered as far as this
        // daemon can tell (the console sorts them by number anyway).
        let watched = self.events.receiver_count() > 0;
        let username = match watched {
            true => self
                .with_usernames(vec![audit_entry(0, record.clone())])
                .await
                .pop()
                .and_then(|entry| entry.username),
            false => None,
        };
        match self.store.append_audit(&record).await {
            // No subscriber is not an error.
            Ok(seq) if watched => {
                let entry = AuditEntry {
                    username,
                    ..audit_entry(seq, record)
                };
                drop(self.events.send(entry));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, event = name, "could not write audit entry"),
        }
    }

    /// `entries` with the usernames of the users their subjects name, each read once
    /// (a user deleted since has none, and a failed read leaves them out).
    pub(super) async fn with_usernames(&self, mut entries: Vec<AuditEntry>) -> Vec<AuditEntry> {
        let users: Vec<Option<Uuid>> = entries.iter().map(subject_user).collect();
        let Ok(names) = self.usernames(users.iter().flatten().copied().collect()).await else {
            return entries;
        };
        for (entry, user) in entries.iter_mut().zip(users) {
            entry.username = user
                .and_then(|id| names.get(&id))
                .filter(|name| !name.is_empty())
                .cloned();
        }
        entries
    }

    /// Records an operator's action.
    pub(super) async fn admin_audit(&self, operator: Operator, event: AuditEvent) {
        self.audit(event, Some(operator.to_string())).await;
    }

    /// Live activity: every audit entry as it is written.
    pub fn subscribe(&self) -> broadcast::Receiver<AuditEntry> {
        self.events.subscribe()
    }
}

/// The user an audit entry's subject names, if it names one.
fn subject_user(entry: &AuditEntry) -> Option<Uuid> {
    entry.subject.as_deref().and_then(|s| Uuid::parse_str(s).ok())
}

/// The console's view of an audit record (without the subject's username: see
/// [`Service::with_usernames`]).
pub(super) fn audit_entry(seq: u64, record: AuditRecord) -> AuditEntry {
    AuditEntry {
        seq,
        at: crate::clock::rfc3339_unix(record.at),
        event: record.event,
        subject: record.subject,
        username: None,
        origin: record.origin,
        detail: record.detail,
        request_id: record.request_id,
    }
}
