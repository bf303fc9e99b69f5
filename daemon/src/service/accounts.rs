//! Accounts: registration, login and `me`.

use super::audit::{AuditEvent, LoginAt};
use super::clients::AuthenticatedClient;
use super::counters::Counter;
use super::{Caller, Issued, Origin, Service, ServiceError, validate};
use crate::clock::rfc3339_unix;
use crate::secret::Secret;
use crate::store::{LinkKind, StoreError, Unique, UserRecord};
use tessera_common::api::{GuestView, MeResponse, Principal, UserView};
use tessera_common::scopes;
use uuid::Uuid;

/// Role of self-registered accounts.
pub(super) const DEFAULT_ROLE: &str = "user";

/// `POST /api/auth/register` input.
#[derive(Debug)]
pub struct Registration {
    /// Wanted username.
    pub username: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Display name; defaults to the username.
    pub display_name: Option<String>,
}

/// `POST /api/auth/token` input.
#[derive(Debug)]
pub struct Login {
    /// Username or email.
    pub login: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Requested scopes; absent or empty means all of the role's.
    pub scopes: Option<Vec<String>>,
    /// The authenticated OAuth client (password grant); its refresh token is bound to it.
    pub client: Option<AuthenticatedClient>,
}

/// What a registration gave.
#[derive(Debug)]
pub enum Registered {
    /// A session, as a login gives.
    Session(Issued),
    /// No tokens: `registration.require_verified_email` holds them back until the
    /// address is verified (a verification message is on its way).
    Unverified(UserView),
}

/// A password found right for an enabled account.
#[derive(Debug)]
pub(super) struct CheckedPassword {
    /// The account as checked.
    pub(super) user: UserRecord,
    /// Its throttle key.
    account: String,
    /// The password, to re-hash with newer parameters.
    password: Secret,
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ServiceError> {
    value.ok_or_else(|| ServiceError::required(field))
}

/// How an unknown login name is keyed and audited: `unknown:` and the first 16 hex
/// digits of the SHA-256 of the lower-cased name. Bounded, free of control characters,
/// and not a record of whatever was typed (sometimes a password).
fn unknown_login(login: &str) -> String {
    use crate::secret;
    let hex = secret::hex(&Secret::new(login.to_lowercase()).digest());
    format!("unknown:{}", &hex[..16])
}

/// The `user` object of an account.
pub fn user_view(user: &UserRecord) -> UserView {
    UserView {
        id: user.id.to_string(),
        username: user.username.clone(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
        email_verified: user.email_verified,
        created_at: rfc3339_unix(user.created_at),
    }
}

pub(super) fn principal(user: &UserRecord) -> Principal {
    Principal::User(user_view(user))
}

impl Service {
    /// Registers an account and logs it in, or, when verified addresses are
    /// required, sends the verification message instead. `mail.verify_on_register`
    /// sends one either way.
    pub async fn register(&self, input: Registration, origin: Origin) -> Result<Registered, ServiceError> {
        if !self.registration_open() {
            return Err(ServiceError::RegistrationClosed);
        }
        let input = Registration {
            username: Some(required(input.username, "username")?),
            email: Some(required(input.email, "email")?),
            password: Some(required(input.password, "password")?),
            display_name: input.display_name,
        };
        let user = self.create_account(input, DEFAULT_ROLE).await?;
        let registered = if self.config.require_verified_email {
            Registered::Unverified(user_view(&user))
        } else {
            let scopes = self.config.role_scopes(&user.role).unwrap_or_default().to_vec();
            // Only an operator deleting the account this very moment makes this `None`.
            let issued = self
                .open_session(&user, scopes, None)
                .await?
                .ok_or(ServiceError::LoginFailed)?;
            Registered::Session(issued)
        };
        self.audit(
            AuditEvent::Register {
                user: user.id,
                username: user.username.clone(),
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        if self.config.require_verified_email || self.config.mail.verify_on_register {
            // The account stands whatever happens to its message.
            if let Err(e) = self.send_link(&user, LinkKind::Verify).await {
                tracing::warn!(user = %user.id, error = %e, "could not send the verification message");
            }
        }
        Ok(registered)
    }

    /// Validates, hashes and stores a new account with `role` (registration and the
    /// console's `user add`). The caller commits.
    pub(super) async fn create_account(&self, input: Registration, role: &str) -> Result<UserRecord, ServiceError> {
        let username = required(input.username, "username")?;
        let email = required(input.email, "email")?;
        let password = required(input.password, "password")?;
        validate::username(&username)?;
        validate::email(&email)?;
        validate::password(password.expose(), self.config.password_min_length)?;
        let display_name = input.display_name.unwrap_or_else(|| username.clone());
        validate::display_name(&display_name)?;
        if self.config.role_scopes(role).is_none() {
            return Err(ServiceError::invalid("role", format!("no role {role:?}")));
        }
        // Cheap pre-check so a duplicate costs no hashing; the transaction decides.
        if self.store.user_by_login(&username).await?.is_some() {
            return Err(ServiceError::UsernameTaken);
        }
        if self.store.user_by_login(&email).await?.is_some() {
            return Err(ServiceError::EmailTaken);
        }
        let password_hash = self.passwords.hash(password).await?;
        let user = UserRecord {
            id: Uuid::new_v4(),
            username,
            email,
            display_name,
            role: role.to_owned(),
            email_verified: false,
            password_hash,
            disabled: false,
            created_at: self.now().unix_timestamp(),
        };
        self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::Taken(Unique::Username) => ServiceError::UsernameTaken,
            StoreError::Taken(Unique::Email) => ServiceError::EmailTaken,
            other => other.into(),
        })?;
        Ok(user)
    }

    /// Checks a password and opens a session. Throttling is decided before any
    /// hashing; for an unknown account the password is hashed anyway, so the answer takes as long.
    pub async fn login(&self, input: Login, origin: Origin) -> Result<Issued, ServiceError> {
        let login = required(input.login, "username")?;
        let password = required(input.password, "password")?;
        let checked = self.check_password(&login, password, origin, LoginAt::Api).await?;
        let user = &checked.user;
        let role_scopes = self.config.role_scopes(&user.role).unwrap_or_default();
        let requested = input.scopes.map(scopes::dedup).unwrap_or_default();
        let granted = if requested.is_empty() {
            role_scopes.to_vec()
        } else if scopes::is_subset(&requested, role_scopes) {
            requested
        } else {
            return Err(ServiceError::InvalidScope(format!(
                "requested scopes exceed the role's ({})",
                scopes::join(role_scopes)
            )));
        };
        if let Some(second_step) = self
            .second_factor_needed(&checked, Some(granted.clone()), origin, LoginAt::Api)
            .await?
        {
            return Err(second_step);
        }
        let Some(issued) = self
            .open_session(user, granted, input.client.map(|c| c.id().to_owned()))
            .await?
        else {
            return Err(self.changed_during_login(&checked, origin, LoginAt::Api).await);
        };
        self.login_succeeded(checked, origin, LoginAt::Api).await?;
        Ok(issued)
    }

    /// Checks `password` for `login` (username or email), with the throttle, equal
    /// timing for unknown accounts, and the disabled and unverified-address refusals;
    /// failures are audited. The caller opens its session, then calls
    /// [`Self::login_succeeded`].
    pub(super) async fn check_password(
        &self,
        login: &str,
        password: Secret,
        origin: Origin,
        at: LoginAt,
    ) -> Result<CheckedPassword, ServiceError> {
        let user = self.store.user_by_login(login).await?;
        // Throttle key and audit subject: the account when it exists, else a digest of
        // the name tried, so neither grows with what a client sends.
        let account = user.as_ref().map_or_else(|| unknown_login(login), |u| u.id.to_string());
        let now = self.now();
        self.throttle.check(&account, origin.addr, now).map_err(|retry_after| {
            self.counters.bump(Counter::Throttled);
            ServiceError::TooManyAttempts { retry_after }
        })?;
        let fail = async |reason: &'static str| {
            self.throttle.record_failure(&account, origin.addr, now);
            self.audit_refusal(&account, reason, origin, at).await;
            ServiceError::LoginFailed
        };
        if !validate::password_length_ok(password.expose(), self.config.password_min_length) {
            return Err(fail("password outside length bounds").await);
        }
        let upgrade = password.clone();
        let matched = self
            .passwords
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await
            .map_err(|e| {
                let e = ServiceError::from(e);
                if matches!(e, ServiceError::Overloaded { .. }) {
                    self.counters.bump(Counter::Overloaded);
                }
                e
            })?;
        let user = match user {
            Some(user) if matched => user,
            Some(_) => return Err(fail("wrong password").await),
            None => return Err(fail("unknown account").await),
        };
        if user.disabled {
            self.audit(AuditEvent::LoginDisabled { user: user.id }, Some(origin.to_string()))
                .await;
            return Err(ServiceError::AccountDisabled);
        }
        if self.config.require_verified_email && !user.email_verified {
            // The password was right: not a guess, so the throttle does not count it.
            self.audit_refusal(&account, "email not verified", origin, at).await;
            return Err(ServiceError::EmailNotVerified);
        }
        Ok(CheckedPassword {
            user,
            account,
            password: upgrade,
        })
    }

    /// Audits a refused login.
    async fn audit_refusal(&self, account: &str, reason: &'static str, origin: Origin, at: LoginAt) {
        self.audit(
            AuditEvent::LoginFailure {
                account: account.to_owned(),
                reason,
                at,
            },
            Some(origin.to_string()),
        )
        .await;
    }

    /// The account changed between the password check and its session (an operator
    /// acted meanwhile): audited, and the generic `LOGIN_FAILED`. The password was
    /// right when checked, not a guess, so the throttle does not count it.
    pub(super) async fn changed_during_login(
        &self,
        checked: &CheckedPassword,
        origin: Origin,
        at: LoginAt,
    ) -> ServiceError {
        self.audit_refusal(&checked.account, "account changed during login", origin, at)
            .await;
        ServiceError::LoginFailed
    }

    /// After the session of a checked password is open: clears the throttle, upgrades
    /// an old hash, audits and commits.
    pub(super) async fn login_succeeded(
        &self,
        checked: CheckedPassword,
        origin: Origin,
        at: LoginAt,
    ) -> Result<(), ServiceError> {
        let CheckedPassword {
            user,
            account,
            password,
        } = checked;
        self.throttle.record_success(&account, origin.addr);
        // After the session: it is opened against the record as verified.
        self.upgrade_hash(&user, password).await;
        self.audit(AuditEvent::LoginSuccess { user: user.id, at }, Some(origin.to_string()))
            .await;
        self.store.commit().await?;
        Ok(())
    }

    /// Re-hashes a just-verified password made with older Argon2 parameters. Best
    /// effort: if the hasher is busy, the next login tries again. The caller commits.
    async fn upgrade_hash(&self, user: &UserRecord, password: Secret) {
        if !self.passwords.is_outdated(&user.password_hash) {
            return;
        }
        let old = user.password_hash.clone();
        let result = match self.passwords.hash(password).await {
            Ok(phc) => {
                self.store
                    .modify_user(user.id, |u| {
                        // Only if no one changed the password meanwhile.
                        let unchanged = u.password_hash == old;
                        if unchanged {
                            u.password_hash = phc.clone();
                        }
                        unchanged
                    })
                    .await
            }
            Err(e) => {
                tracing::debug!(error = %e, "password hash upgrade postponed");
                return;
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not store an upgraded password hash");
        }
    }

    /// The token's user, if it still exists and is enabled.
    async fn active_user(&self, user_id: Uuid) -> Result<UserRecord, ServiceError> {
        self.store
            .user(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ServiceError::InvalidToken { presented: true })
    }

    /// `GET /api/auth/me`: who the caller is, with the token's scopes.
    pub async fn me(&self, caller: &Caller) -> Result<MeResponse, ServiceError> {
        match caller {
            Caller::Session { user_id, claims, .. } => Ok(MeResponse {
                user: principal(&self.active_user(*user_id).await?),
                scopes: scopes::parse(&claims.scope),
            }),
            Caller::ApiToken { user_id, scopes, .. } => Ok(MeResponse {
                user: principal(&self.active_user(*user_id).await?),
                scopes: scopes.clone(),
            }),
            Caller::Client { .. } => Err(ServiceError::InsufficientScope("a user's token is required")),
            Caller::Guest { claims } => Ok(MeResponse {
                user: Principal::Guest(GuestView {
                    id: claims.sub.clone(),
                    role: super::guest::ROLE.into(),
                }),
                scopes: scopes::parse(&claims.scope),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unknown_login;

    #[test]
    fn unknown_names_are_keyed_by_a_bounded_digest() {
        let long = "x".repeat(100_000);
        let key = unknown_login(&long);
        assert_eq!(key.len(), "unknown:".len() + 16);
        assert_eq!(unknown_login("Ghost"), unknown_login("ghost"), "case does not matter");
        assert_ne!(unknown_login("ghost"), unknown_login("ghost2"));
        assert!(!unknown_login("\u{1b}[2J").contains('\u{1b}'));
    }
}
