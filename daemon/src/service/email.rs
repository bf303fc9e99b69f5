//! The email flows (see README, "Email"): address verification, forgotten passwords, the
//! password-change notice, `exists`, and the drain of the outbox.
//!
//! Nothing here tells a caller whether an address has an account: the unauthenticated
//! requests check the address's form, start the rest in the background and answer at
//! once, so an unknown address and a known one cost the request the same. A link
//! token is stored only as its digest; the message is built, queued and sent off the
//! request path (see [`crate::mail`]).

use super::accounts::user_view;
use super::audit::AuditEvent;
use super::counters::Counter;
use super::{Caller, Origin, Service, ServiceError, validate};
use crate::mail::{Mail, MailKind, Queued, templates};
use crate::secret::{self, Secret};
use crate::store::{LinkKind, LinkRecord, LinkUse, UserRecord};
use std::sync::Arc;
use std::time::Duration;
use tessera_common::api::UserView;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Prefix of verification link tokens.
pub const VERIFY_PREFIX: &str = "tsr_ve_";
/// Prefix of password-reset link tokens.
pub const RESET_PREFIX: &str = "tsr_pr_";
/// `exists` lookups per client address per minute.
pub(super) const EXISTS_PER_MINUTE: u32 = 10;
/// Messages sent at once by the drain; more wait in the queue.
const SENDING: usize = 8;

/// What `GET /api/auth/exists` asks about.
#[derive(Debug)]
pub enum ExistsQuery {
    /// `?email=`.
    Email(String),
    /// `?username=`.
    Username(String),
}

/// How a link's lifetime reads in a message: "24 hours", "1 hour", "30 minutes".
fn lifetime(ttl: Duration) -> String {
    let (n, unit) = match ttl.as_secs() {
        s if s >= 86_400 && s % 86_400 == 0 && s / 86_400 > 1 => (s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl Service {
    /// `POST /api/auth/verify-email/request` with a session token: sends a
    /// verification message unless the address is verified already.
    pub async fn request_verification(&self, caller: &Caller) -> Result<(), ServiceError> {
        let Caller::Session { user_id, .. } = caller else {
            return Err(ServiceError::InsufficientScope("a user's session token is required"));
        };
        let user = self
            .store
            .user(*user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ServiceError::InvalidToken { presented: true })?;
        if !user.email_verified {
            self.send_link(&user, LinkKind::Verify).await?;
        }
        Ok(())
    }

    /// `POST /api/auth/verify-email/request` with an `email`: checks its form, then
    /// sends a verification message in the background if an enabled, unverified
    /// account has the address.
    pub fn request_verification_for(self: &Arc<Self>, email: &str) -> Result<(), ServiceError> {
        self.in_background_for(email, LinkKind::Verify)
    }

    /// `POST /api/auth/password/forgot`: checks the address's form, then sends a reset
    /// message in the background if an enabled account has it.
    pub fn forgot_password(self: &Arc<Self>, email: &str) -> Result<(), ServiceError> {
        self.in_background_for(email, LinkKind::Reset)
    }

    fn in_background_for(self: &Arc<Self>, email: &str, kind: LinkKind) -> Result<(), ServiceError> {
        validate::email(email)?;
        let (service, email) = (Arc::clone(self), email.to_owned());
        tokio::spawn(async move {
            let wanted = |user: &UserRecord| {
                let verified_already = kind == LinkKind::Verify && user.email_verified;
                !user.disabled && !verified_already
            };
            let user = match service.store.user_by_login(&email).await {
                Ok(Some(user)) if wanted(&user) => user,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "could not look up an address for a message");
                    return;
                }
            };
            if let Err(e) = service.send_link(&user, kind).await {
                tracing::warn!(error = %e, "could not send a link");
            }
        });
        Ok(())
    }

    /// Makes a link of `kind` for `user`, stores its digest durably and queues the
    /// message, unless `mail.max_per_hour` messages of that kind went to the address
    /// this hour (then nothing is made). True when queued.
    pub(super) async fn send_link(&self, user: &UserRecord, kind: LinkKind) -> Result<bool, ServiceError> {
        let now = self.now().unix_timestamp();
        if self.mail_limit.admit((kind, user.email.to_lowercase()), now).is_err() {
            tracing::info!(user = %user.id, kind = ?kind, "mail.max_per_hour reached; no message sent");
            return Ok(false);
        }
        let mail_config = &self.config.mail;
        let (prefix, ttl) = match kind {
            LinkKind::Verify => (VERIFY_PREFIX, mail_config.verify_ttl),
            LinkKind::Reset => (RESET_PREFIX, mail_config.reset_ttl),
        };
        let token = secret::generate(prefix)?;
        let link = LinkRecord {
            kind,
            user_id: user.id,
            email: user.email.clone(),
            expires_at: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            used_at: None,
        };
        self.store.create_link(&token.digest(), &link).await?;
        self.store.commit().await?;
        let base = mail_config.link_base(self.issuer());
        let app = self.outbox.app_name();
        let (mail, what) = match kind {
            LinkKind::Verify => (
                templates::verification(
                    &app,
                    &user.email,
                    &format!("{base}/api/auth/verify-email/{}", token.expose()),
                    &lifetime(ttl),
                ),
                MailKind::Verify,
            ),
            LinkKind::Reset => (
                templates::reset(
                    &app,
                    &user.email,
                    &format!("{base}/reset-password?token={}", token.expose()),
                    &lifetime(ttl),
                ),
                MailKind::Reset,
            ),
        };
        Ok(self.queue_mail(mail, what, user.id).await)
    }

    /// Queues `mail`; a full queue drops it (logged, audited, counted).
    pub(super) async fn queue_mail(&self, mail: Mail, kind: MailKind, user: Uuid) -> bool {
        let queued = self.outbox.queue(Queued { mail, kind, user });
        if !queued {
            tracing::error!(%user, kind = kind.name(), "the mail queue is full; message dropped");
            self.mail_failed(user, kind, "the mail queue is full".into()).await;
        }
        queued
    }

    async fn mail_failed(&self, user: Uuid, kind: MailKind, reason: String) {
        self.counters.bump(Counter::MailFailed(kind));
        self.audit(AuditEvent::MailFailed { user, kind, reason }, None).await;
    }

    /// `POST /api/auth/verify-email` and `GET /api/auth/verify-email/{token}`: marks
    /// the address verified. A link used before answers success again while the
    /// address stays verified (mail scanners open links before people do).
    pub async fn verify_email(&self, token: &str) -> Result<UserView, ServiceError> {
        let token = Secret::new(token.to_owned());
        if !token.expose().starts_with(VERIFY_PREFIX) {
            return Err(ServiceError::InvalidLink);
        }
        let now = self.now().unix_timestamp();
        match self
            .store
            .use_link(&token.digest(), LinkKind::Verify, now, |u| u.email_verified = true)
            .await?
        {
            LinkUse::Used(user) => {
                self.audit(AuditEvent::EmailVerified { user: user.id }, None).await;
                self.store.commit().await?;
                Ok(user_view(&user))
            }
            LinkUse::UsedBefore(Some(user)) if user.email_verified && !user.disabled => Ok(user_view(&user)),
            LinkUse::UsedBefore(_) | LinkUse::Invalid => Err(ServiceError::InvalidLink),
        }
    }

    /// `POST /api/auth/password/reset`: sets the password, verifies the address (the
    /// mailbox was proven), revokes every session of the user and sends the notice.
    /// A password against the policy leaves the link usable.
    pub async fn reset_password(&self, token: &str, password: Secret, origin: Origin) -> Result<(), ServiceError> {
        let token = Secret::new(token.to_owned());
        if !token.expose().starts_with(RESET_PREFIX) {
            return Err(ServiceError::InvalidLink);
        }
        let digest = token.digest();
        let now = self.now().unix_timestamp();
        let usable = self
            .store
            .link(&digest)
            .await?
            .is_some_and(|l| l.kind == LinkKind::Reset && l.used_at.is_none() && l.expires_at > now);
        if !usable {
            return Err(ServiceError::InvalidLink);
        }
        validate::password(password.expose(), self.config.password_min_length)
            .map_err(|e| ServiceError::invalid("newPassword", e.to_string()))?;
        let phc = self.passwords.hash(password).await?;
        let LinkUse::Used(user) = self
            .store
            .use_link(&digest, LinkKind::Reset, now, |u| {
                u.password_hash = phc.clone();
                u.email_verified = true;
            })
            .await?
        else {
            return Err(ServiceError::InvalidLink);
        };
        let revoked = self.revoke_user_sessions(user.id).await?;
        self.audit(
            AuditEvent::PasswordReset {
                user: user.id,
                revoked: revoked.len() as u64,
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        self.note_revoked(revoked);
        self.notify_password_changed(&user).await;
        Ok(())
    }

    /// Queues the notice of a password change (never throttled).
    pub(super) async fn notify_password_changed(&self, user: &UserRecord) {
        let mail = templates::password_changed(&self.outbox.app_name(), &user.email);
        self.queue_mail(mail, MailKind::Notice, user.id).await;
    }

    /// `GET /api/auth/exists`: whether an account has the address or username, when
    /// `registration.expose_exists` is on (else `NOT_FOUND`); at most
    /// [`EXISTS_PER_MINUTE`] per client address.
    pub async fn exists(&self, query: ExistsQuery, origin: Origin) -> Result<bool, ServiceError> {
        if !self.config.expose_exists {
            return Err(ServiceError::NotFound(
                "address lookups are not offered here (registration.expose_exists)".into(),
            ));
        }
        let now = self.now().unix_timestamp();
        self.exists_limit
            .admit(origin.addr, now)
            .map_err(|retry_after| ServiceError::TooManyAttempts { retry_after })?;
        let login = match query {
            ExistsQuery::Email(email) => {
                validate::email(&email)?;
                email
            }
            ExistsQuery::Username(name) => {
                if name.contains('@') {
                    return Err(ServiceError::invalid("username", "a username holds no @"));
                }
                name
            }
        };
        Ok(self.store.user_by_login(&login).await?.is_some())
    }

    /// Sends queued messages until the daemon stops, a few at a time, each with its
    /// retries; a message that finally fails is logged, audited and counted. Runs
    /// once (the queue's receiving end is taken).
    pub async fn run_mail(self: Arc<Self>) {
        let Some(mut queue) = crate::locks::lock(&self.outbox_queue).take() else {
            return;
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(SENDING));
        while let Some(queued) = queue.recv().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let service = Arc::clone(&self);
            tokio::spawn(async move {
                service.deliver(queued).await;
                drop(slot);
            });
        }
    }

    async fn deliver(&self, queued: Queued) {
        let Queued { mail, kind, user } = queued;
        match self.outbox.deliver(&mail).await {
            Ok(attempts) => {
                self.counters.bump(Counter::MailSent(kind));
                tracing::info!(%user, kind = kind.name(), attempts, "mail sent");
            }
            Err(e) => {
                tracing::error!(%user, kind = kind.name(), error = %e, "mail not sent");
                self.mail_failed(user, kind, e.to_string()).await;
                if let Err(e) = self.store.commit().await {
                    tracing::warn!(error = %e, "could not commit the audit of a failed message");
                }
            }
        }
    }
}

/// The queue's receiving end, until [`Service::run_mail`] takes it.
pub(super) type OutboxQueue = std::sync::Mutex<Option<mpsc::Receiver<Queued>>>;

#[cfg(test)]
mod tests {
    use super::lifetime;
    use std::time::Duration;

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(lifetime(Duration::from_secs(2 * 86_400)), "2 days");
        assert_eq!(lifetime(Duration::from_secs(3600)), "1 hour");
        assert_eq!(lifetime(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(lifetime(Duration::from_secs(45)), "45 seconds");
    }
}
