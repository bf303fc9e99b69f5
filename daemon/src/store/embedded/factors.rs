//! Second factors. Trees: `factors` (user id → [`FactorsRecord`], only for users who
//! have one) and `mfa_tokens` (digest of a `tsr_mf_` token → [`MfaTokenRecord`]).
//! The one-use rules (a TOTP step, a recovery code, a token's success) are decided in
//! a single compare-and-swap or removal each.

use super::{FactorsRecord, MfaTokenRecord, SledStore, StoreError, decode, encode};
use uuid::Uuid;

impl SledStore {
    /// `user_id`'s factors, if any.
    pub fn factors(&self, user_id: Uuid) -> Result<Option<FactorsRecord>, StoreError> {
        self.factors
            .get(user_id.as_bytes())?
            .map(|v| decode("factors", &v))
            .transpose()
    }

    /// Stores (or replaces) `user_id`'s factors.
    pub fn put_factors(&self, user_id: Uuid, factors: &FactorsRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.factors.insert(user_id.as_bytes(), encode(factors)?)?;
        Ok(())
    }

    /// Removes every factor and recovery code of `user_id`; false if there were none.
    pub fn remove_factors(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let _writing = self.writing();
        Ok(self.factors.remove(user_id.as_bytes())?.is_some())
    }

    /// Records that a TOTP code of `step` was accepted, if no code of this step or a
    /// later one was: false otherwise (a replay), or without a TOTP factor.
    pub fn use_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError> {
        self.update_factors(user_id, |factors| match &mut factors.totp {
            Some(totp) if totp.last_step < step => {
                totp.last_step = step;
                true
            }
            _ => false,
        })
    }

    /// Uses the recovery code with `digest`: false if it is not one of the unused ones.
    pub fn use_recovery_code(&self, user_id: Uuid, digest: &[u8; 32]) -> Result<bool, StoreError> {
        self.update_factors(user_id, |factors| {
            let before = factors.recovery.len();
            factors.recovery.retain(|d| d != digest);
            factors.recovery.len() < before
        })
    }

    /// Applies `change` to `user_id`'s factors in one compare-and-swap (retried when
    /// another write came between); stores the result when `change` says it changed.
    fn update_factors(
        &self,
        user_id: Uuid,
        mut change: impl FnMut(&mut FactorsRecord) -> bool,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing();
        loop {
            let Some(old) = self.factors.get(user_id.as_bytes())? else {
                return Ok(false);
            };
            let mut factors: FactorsRecord = decode("factors", &old)?;
            if !change(&mut factors) {
                return Ok(false);
            }
            let new = encode(&factors)?;
            if self
                .factors
                .compare_and_swap(user_id.as_bytes(), Some(&old), Some(new))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Stores a login waiting for its second factor.
    pub fn create_mfa_token(&self, digest: &[u8; 32], record: &MfaTokenRecord) -> Result<(), StoreError> {
        let _writing = self.writing();
        self.mfa_tokens.insert(digest, encode(record)?)?;
        Ok(())
    }

    /// The waiting login under `digest`, if any.
    pub fn mfa_token(&self, digest: &[u8; 32]) -> Result<Option<MfaTokenRecord>, StoreError> {
        self.mfa_tokens
            .get(digest)?
            .map(|v| decode("mfa_tokens", &v))
            .transpose()
    }

    /// Counts an attempt at the token's code, if it is live and has had fewer than
    /// `limit`: the token as it is now.
    pub fn attempt_mfa_token(
        &self,
        digest: &[u8; 32],
        now: i64,
        limit: u32,
    ) -> Result<Option<MfaTokenRecord>, StoreError> {
        let _writing = self.writing();
        loop {
            let Some(old) = self.mfa_tokens.get(digest)? else {
                return Ok(None);
            };
            let mut record: MfaTokenRecord = decode("mfa_tokens", &old)?;
            if record.expires_at <= now || record.failures >= limit {
                return Ok(None);
            }
            record.failures += 1;
            if self
                .mfa_tokens
                .compare_and_swap(digest, Some(&old), Some(encode(&record)?))?
                .is_ok()
            {
                return Ok(Some(record));
            }
        }
    }

    /// Confirms the pending TOTP of `secret` with a code of `step`, and stores the
    /// first recovery codes when given.
    pub fn confirm_totp(
        &self,
        user_id: Uuid,
        secret: &[u8],
        step: i64,
        recovery: Option<&[[u8; 32]]>,
    ) -> Result<bool, StoreError> {
        self.update_factors(user_id, |factors| match &mut factors.totp {
            Some(totp) if !totp.confirmed && totp.secret == secret && totp.last_step < step => {
                totp.confirmed = true;
                totp.last_step = step;
                if let Some(codes) = recovery {
                    factors.recovery = codes.to_vec();
                }
                true
            }
            _ => false,
        })
    }

    /// Replaces the recovery codes while an active factor exists.
    pub fn replace_recovery_codes(&self, user_id: Uuid, recovery: &[[u8; 32]]) -> Result<bool, StoreError> {
        self.update_factors(user_id, |factors| {
            if !factors.active() {
                return false;
            }
            factors.recovery = recovery.to_vec();
            true
        })
    }

    /// Removes the waiting logins past their expiry.
    pub(super) fn purge_mfa_tokens(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.mfa_tokens.iter() {
            let (digest, value) = entry?;
            let record: MfaTokenRecord = decode("mfa_tokens", &value)?;
            if record.expires_at <= now {
                let _writing = self.writing();
                // Only if unchanged: a use racing the purge decides.
                if self
                    .mfa_tokens
                    .compare_and_swap(&digest, Some(&value), None::<&[u8]>)?
                    .is_ok()
                {
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }

    /// Removes the token and returns what it was: of two uses at once, one gets it.
    pub fn take_mfa_token(&self, digest: &[u8; 32]) -> Result<Option<MfaTokenRecord>, StoreError> {
        let _writing = self.writing();
        self.mfa_tokens
            .remove(digest)?
            .map(|v| decode("mfa_tokens", &v))
            .transpose()
    }
}
