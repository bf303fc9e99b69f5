//! Second factors (see README, "Two-step sign-in"): TOTP enrolment and removal,
//! recovery codes, and the second step of a login, shared by the API
//! (`POST /api/auth/mfa/verify`) and the login page. The codes' arithmetic is
//! [`crate::auth::totp`]'s and [`crate::auth::recovery`]'s; each one-use rule is the
//! store's.

use super::accounts::CheckedPassword;
use super::audit::{AuditEvent, LoginAt};
use super::counters::Counter;
use super::{Caller, Issued, Origin, Service, ServiceError, after};
use crate::auth::{recovery, totp};
use crate::records::{FactorsRecord, MfaTokenRecord, TotpFactor, UserRecord};
use crate::secret::{self, Secret};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tessera_common::api::{MfaStatus, TotpSetup};

/// Prefix of the tokens of logins waiting for a second factor.
pub const MFA_TOKEN_PREFIX: &str = "tsr_mf_";
/// How long a login waits for its second factor.
const MFA_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Wrong codes that end a waiting login.
const MFA_TOKEN_FAILURES: u32 = 5;

/// SHA-256 of `user`'s password hash: what a waiting login remembers of the password.
fn password_digest(user: &UserRecord) -> [u8; 32] {
    Sha256::digest(user.password_hash.as_bytes()).into()
}

/// The throttle's key for the second factors of `account` from every address.
fn second_factor_key(account: &str) -> String {
    format!("second-factor:{account}")
}

/// A waiting login whose second factor was right.
pub(super) struct Verified {
    /// Who signed in.
    pub user: UserRecord,
    /// The waiting login as it was stored.
    pub waiting: MfaTokenRecord,
}

impl Service {
    /// `GET /api/auth/mfa`.
    pub async fn mfa_status(&self, caller: &Caller) -> Result<MfaStatus, ServiceError> {
        let (user, _) = self.own_user(caller).await?;
        let factors = self.store.factors(user.id).await?.unwrap_or_default();
        Ok(MfaStatus {
            totp: factors.active(),
            passkeys: Vec::new(),
            recovery_codes_left: factors.recovery.len(),
        })
    }

    /// `POST /api/auth/mfa/totp`: a new secret, pending until a code confirms it
    /// (a pending one is replaced). 409 when TOTP is already active.
    pub async fn begin_totp(&self, caller: &Caller) -> Result<TotpSetup, ServiceError> {
        let (user, _) = self.own_user(caller).await?;
        let mut factors = self.store.factors(user.id).await?.unwrap_or_default();
        if factors.active() {
            return Err(ServiceError::Conflict("TOTP is already active".into()));
        }
        let mut secret = vec![0u8; totp::SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| ServiceError::Internal(format!("no randomness: {e}")))?;
        let text = totp::base32(&secret);
        factors.totp = Some(TotpFactor {
            secret,
            confirmed: false,
            created_at: self.now().unix_timestamp(),
            last_step: 0,
        });
        self.store.put_factors(user.id, &factors).await?;
        self.store.commit().await?;
        Ok(TotpSetup {
            otpauth_uri: totp::otpauth_uri(&self.config.mfa_issuer_name, &user.username, &text),
            secret: text,
        })
    }

    /// `POST /api/auth/mfa/totp/confirm`: a code of the pending secret makes it active
    /// (that code's step is used). Returns the recovery codes when this is the user's
    /// first factor, else none.
    pub async fn confirm_totp(&self, caller: &Caller, code: &str, origin: Origin) -> Result<Vec<String>, ServiceError> {
        let (user, _) = self.own_user(caller).await?;
        let factors = self.store.factors(user.id).await?.unwrap_or_default();
        let Some(pending) = factors.totp.clone().filter(|t| !t.confirmed) else {
            return Err(if factors.active() {
                ServiceError::Conflict("TOTP is already active".into())
            } else {
                ServiceError::invalid("code", "start the TOTP set-up first (POST /api/auth/mfa/totp)")
            });
        };
        let now = self.now().unix_timestamp();
        let step =
            totp::matching_step(&pending.secret, code, now).ok_or(ServiceError::InvalidCode { at_login: false })?;
        // The first factor brings the recovery codes (TOTP is the only kind today).
        let codes = recovery::generate().map_err(|e| ServiceError::Internal(e.to_string()))?;
        let digests: Vec<[u8; 32]> = codes.iter().map(|c| recovery::digest(c)).collect();
        if !self
            .store
            .confirm_totp(user.id, &pending.secret, step, Some(&digests))
            .await?
        {
            return Err(ServiceError::InvalidCode { at_login: false });
        }
        self.audit(AuditEvent::MfaTotpAdded { user: user.id }, Some(origin.to_string()))
            .await;
        self.store.commit().await?;
        Ok(codes)
    }

    /// `DELETE /api/auth/mfa/totp`: after the password, TOTP goes, and with the last
    /// factor the recovery codes.
    pub async fn remove_totp(
        &self,
        caller: &Caller,
        password: Option<Secret>,
        origin: Origin,
    ) -> Result<(), ServiceError> {
        let (user, _) = self.recheck_password(caller, password, "password", origin).await?;
        // The only factor today: its removal voids the recovery codes too.
        self.store.remove_factors(user.id).await?;
        self.audit(AuditEvent::MfaTotpRemoved { user: user.id }, Some(origin.to_string()))
            .await;
        self.store.commit().await?;
        Ok(())
    }

    /// `POST /api/auth/mfa/recovery-codes`: after the password, a new set replaces the
    /// old one. 409 without a second factor.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
        password: Option<Secret>,
        origin: Origin,
    ) -> Result<Vec<String>, ServiceError> {
        let (user, _) = self.recheck_password(caller, password, "password", origin).await?;
        let codes = recovery::generate().map_err(|e| ServiceError::Internal(e.to_string()))?;
        let digests: Vec<[u8; 32]> = codes.iter().map(|c| recovery::digest(c)).collect();
        if !self.store.replace_recovery_codes(user.id, &digests).await? {
            return Err(ServiceError::Conflict("there is no second factor to recover".into()));
        }
        self.audit(
            AuditEvent::MfaRecoveryRegenerated { user: user.id },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        Ok(codes)
    }

    /// After a right password: `None` when the user has no active second factor, else
    /// the token of a login waiting for one (for an API login, with its `scopes`).
    pub(super) async fn second_factor_needed(
        &self,
        checked: &CheckedPassword,
        scopes: Option<Vec<String>>,
        origin: Origin,
        at: LoginAt,
    ) -> Result<Option<ServiceError>, ServiceError> {
        let user = &checked.user;
        let Some(factors) = self.store.factors(user.id).await?.filter(FactorsRecord::active) else {
            return Ok(None);
        };
        let token = secret::generate(MFA_TOKEN_PREFIX)?;
        let record = MfaTokenRecord {
            user_id: user.id,
            expires_at: after(self.now(), MFA_TOKEN_TTL).unix_timestamp(),
            failures: 0,
            scopes,
            password: password_digest(user),
        };
        self.store.create_mfa_token(&token.digest(), &record).await?;
        self.audit(AuditEvent::MfaRequired { user: user.id, at }, Some(origin.to_string()))
            .await;
        self.store.commit().await?;
        let mut methods = Vec::new();
        if factors.totp.as_ref().is_some_and(|t| t.confirmed) {
            methods.push("totp");
        }
        methods.push("recovery");
        Ok(Some(ServiceError::MfaRequired { token, methods }))
    }

    /// Checks the second factor of the waiting login `token`: a TOTP code (each step
    /// once) or a recovery code (each once). A wrong code counts for the login
    /// throttle and against the token, which dies with its fifth; a right one uses
    /// the token up. `page` says which kind of login the token must come from.
    pub(super) async fn verify_second_factor(
        &self,
        token: &str,
        code: &str,
        page: bool,
        origin: Origin,
    ) -> Result<Verified, ServiceError> {
        let invalid = || ServiceError::InvalidMfaToken;
        if !token.starts_with(MFA_TOKEN_PREFIX) {
            return Err(invalid());
        }
        let digest = Secret::new(token.to_owned()).digest();
        let now = self.now();
        let peek = self.store.mfa_token(&digest).await?.ok_or_else(invalid)?;
        if peek.scopes.is_none() != page {
            return Err(invalid());
        }
        let account = peek.user_id.to_string();
        let throttled = self
            .throttle
            .check(&account, origin.addr, now)
            .and(self.throttle.check_account(&second_factor_key(&account), now));
        throttled.map_err(|retry_after| {
            self.counters.bump(Counter::Throttled);
            ServiceError::TooManyAttempts { retry_after }
        })?;
        // Counted before the code is looked at: parallel guesses cannot outrun the limit.
        let waiting = self
            .store
            .attempt_mfa_token(&digest, now.unix_timestamp(), MFA_TOKEN_FAILURES)
            .await?
            .ok_or_else(invalid)?;
        let user = self
            .store
            .user(waiting.user_id)
            .await?
            .filter(|u| !u.disabled && password_digest(u) == waiting.password)
            .ok_or_else(invalid)?;
        let right = self.second_factor_right(&user, code, origin).await?;
        if !right {
            self.throttle.record_failure(&account, origin.addr, now);
            self.throttle.record_account_failure(&second_factor_key(&account), now);
            self.audit(AuditEvent::MfaFailure { user: user.id }, Some(origin.to_string()))
                .await;
            self.store.commit().await?;
            return Err(ServiceError::InvalidCode { at_login: true });
        }
        // Of two right answers at once, one gets the token.
        let waiting = self.store.take_mfa_token(&digest).await?.ok_or_else(invalid)?;
        self.throttle.record_success(&account, origin.addr);
        Ok(Verified { user, waiting })
    }

    /// Whether `code` is a right TOTP code (of a step not used yet) or an unused
    /// recovery code of `user`, using it if so.
    async fn second_factor_right(&self, user: &UserRecord, code: &str, origin: Origin) -> Result<bool, ServiceError> {
        let Some(factors) = self.store.factors(user.id).await? else {
            return Ok(false);
        };
        if recovery::looks_like_one(code) {
            let used = self.store.use_recovery_code(user.id, &recovery::digest(code)).await?;
            if used {
                self.audit(AuditEvent::MfaRecoveryUsed { user: user.id }, Some(origin.to_string()))
                    .await;
            }
            return Ok(used);
        }
        let Some(totp) = factors.totp.filter(|t| t.confirmed) else {
            return Ok(false);
        };
        match totp::matching_step(&totp.secret, code, self.now().unix_timestamp()) {
            Some(step) => Ok(self.store.use_totp_step(user.id, step).await?),
            None => Ok(false),
        }
    }

    /// `POST /api/auth/mfa/verify`: the second step of an API login; the same answer
    /// as a login.
    pub async fn verify_mfa_login(
        &self,
        token: Option<String>,
        code: Option<String>,
        origin: Origin,
    ) -> Result<Issued, ServiceError> {
        let token = token.ok_or_else(|| ServiceError::required("mfaToken"))?;
        let code = code.ok_or_else(|| ServiceError::required("code"))?;
        let Verified { user, waiting } = self.verify_second_factor(&token, &code, false, origin).await?;
        let scopes = waiting.scopes.unwrap_or_default();
        let issued = self
            .open_session(&user, self.allowed_scopes(&user, &scopes), None)
            .await?
            .ok_or(ServiceError::InvalidMfaToken)?;
        self.audit(
            AuditEvent::MfaSuccess {
                user: user.id,
                at: LoginAt::Api,
            },
            Some(origin.to_string()),
        )
        .await;
        self.store.commit().await?;
        Ok(issued)
    }
}
