//! Argon2id password hashing on the blocking pool, bounded so a login flood cannot
//! exhaust memory: at most one hash per core runs at once, a bounded number wait, and
//! beyond that callers are told the daemon is overloaded.

use crate::config::Argon2Config;
use crate::tokens::opaque::Secret;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// How many hashes may wait per running one before callers get `Overloaded`.
const QUEUE_PER_WORKER: usize = 32;

/// Failures of hashing.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many hashes queued; try again shortly.
    #[error("password hashing queue is full")]
    Overloaded,
    /// The hasher failed (bad parameters, worker panic).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Hashes and verifies human passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// Hash of a random password, verified for unknown accounts so that their timing
    /// matches a real account's.
    dummy: Arc<str>,
}

impl Passwords {
    /// A hasher with `params` and `workers` concurrent hashes.
    pub fn new(params: Argon2Config, workers: usize) -> Result<Self, PasswordError> {
        let p = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let workers = workers.max(1);
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| PasswordError::Internal(e.to_string()))?;
        let dummy = hash_with(&argon, &random)?;
        Ok(Self {
            argon,
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers * (1 + QUEUE_PER_WORKER))),
            dummy: dummy.into(),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Secret) -> Result<String, PasswordError> {
        let argon = self.argon.clone();
        self.run(move || hash_with(&argon, password.expose().as_bytes())).await
    }

    /// Checks `password` against `phc`, or against the dummy hash when the account does
    /// not exist (`None`), which always answers false after the same work.
    pub async fn verify(&self, password: Secret, phc: Option<String>) -> Result<bool, PasswordError> {
        let argon = self.argon.clone();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        let matched = self
            .run(move || {
                let parsed = PasswordHash::new(&phc).map_err(|e| PasswordError::Internal(e.to_string()))?;
                Ok(argon.verify_password(password.expose().as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(matched && known)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PasswordError::Overloaded)?;
        let _running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?
    }
}

fn hash_with(argon: &Argon2<'_>, password: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Internal(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Internal(e.to_string()))?;
    argon
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Config = Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hash_and_verify() {
        let p = Passwords::new(CHEAP, 2).unwrap();
        let phc = p.hash(Secret::new("correct horse".into())).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            p.verify(Secret::new("correct horse".into()), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!p.verify(Secret::new("wrong".into()), Some(phc)).await.unwrap());
        assert!(!p.verify(Secret::new("anything".into()), None).await.unwrap());
    }

    #[tokio::test]
    async fn full_queue_is_overloaded_not_unbounded() {
        let p = Passwords::new(CHEAP, 1).unwrap();
        // Hold every admission slot, as a flood would.
        let _held = Arc::clone(&p.admitted)
            .try_acquire_many_owned((1 + QUEUE_PER_WORKER) as u32)
            .unwrap();
        assert!(matches!(
            p.hash(Secret::new("pw".into())).await,
            Err(PasswordError::Overloaded)
        ));
    }
}
