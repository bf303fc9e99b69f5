//! Access tokens: PASETO v4.public signing and verification, and the signing keys.
//!
//! Verification reads the untrusted footer's `kid` with serde_json under a length
//! cap, fails closed on an unknown kid, checks the Ed25519 signature with the low-level
//! pasetors API, then `nbf` and `exp` against the injected clock. Revocation is not
//! checked here: that is the service's live view.

mod keys;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::store::{Store, StoreError};
use keys::KeyRing;
use pasetors::Public;
use pasetors::token::UntrustedToken;
use pasetors::version4::{PublicToken, V4};
use std::sync::{Arc, Mutex, RwLock};
use tessera_common::api::KeyView;
use tessera_common::claims::{AccessClaims, Footer};
use time::OffsetDateTime;

/// Longest token accepted for verification; ours are well under 1 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest footer read from an untrusted token.
const MAX_FOOTER_LEN: usize = 256;

/// Failures of signing or verification.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed v4.public token, or a bad signature.
    #[error("malformed or forged token")]
    Invalid,
    /// The footer names a key this daemon does not trust.
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// Past `exp` or before `nbf`.
    #[error("token expired or not yet valid")]
    Expired,
    /// A key could not be made, loaded or used.
    #[error("signing key: {0}")]
    Key(String),
    /// Reading or writing keys failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a new access token says, before the registered claims are added.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// `sub`.
    pub sub: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `role`, for user and guest tokens.
    pub role: Option<String>,
    /// `sid`, for session tokens.
    pub sid: Option<String>,
    /// `username`, for user tokens.
    pub username: Option<String>,
    /// `client_id`, for tokens issued to an OAuth client.
    pub client_id: Option<String>,
}

/// Signs and verifies access tokens with the key ring.
pub struct Tokens {
    issuer: String,
    ring: RwLock<Arc<KeyRing>>,
    /// Serialises key changes (rotation, sweep) so that none is lost.
    changing: Mutex<()>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Loads the keys from the store, generating and storing the first one on first
    /// start. The caller commits the store before serving.
    pub fn load(store: &Store, issuer: String, now: OffsetDateTime) -> Result<Self, TokenError> {
        let mut records = store.keys()?;
        if !records.iter().any(|k| k.retired_at.is_none()) {
            let key = keys::generate(now)?;
            store.put_keys(&[&key])?;
            tracing::info!(kid = %key.kid, "generated a new signing key");
            records.push(key);
        }
        let ring = KeyRing::from_records(&records)?;
        Ok(Self {
            issuer,
            ring: RwLock::new(Arc::new(ring)),
            changing: Mutex::new(()),
        })
    }

    /// Makes a new signing key, which signs from now on; the previous one goes
    /// `retiring` and keeps verifying. Returns the new kid. The caller commits.
    pub fn rotate(&self, store: &Store, now: OffsetDateTime) -> Result<String, TokenError> {
        let _changing = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut records = store.keys()?;
        let mut changed = Vec::new();
        for record in records.iter_mut().filter(|r| r.retired_at.is_none()) {
            record.retired_at = Some(now.unix_timestamp());
            changed.push(record.clone());
        }
        let new = keys::generate(now)?;
        changed.push(new.clone());
        store.put_keys(&changed.iter().collect::<Vec<_>>())?;
        records.push(new.clone());
        self.install(KeyRing::from_records(&records)?);
        tracing::info!(kid = %new.kid, "rotated the signing key");
        Ok(new.kid)
    }

    /// Drops retiring keys retired at or before `cutoff` (Unix seconds): no token they
    /// signed can still be live. Returns the dropped kids. The caller commits.
    pub fn sweep(&self, store: &Store, cutoff: i64) -> Result<Vec<String>, TokenError> {
        let _changing = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (expired, kept): (Vec<_>, Vec<_>) = store
            .keys()?
            .into_iter()
            .partition(|k| k.retired_at.is_some_and(|at| at <= cutoff));
        if expired.is_empty() {
            return Ok(Vec::new());
        }
        for key in &expired {
            store.remove_key(&key.kid)?;
        }
        self.install(KeyRing::from_records(&kept)?);
        Ok(expired.into_iter().map(|k| k.kid).collect())
    }

    fn install(&self, ring: KeyRing) {
        let mut slot = self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Arc::new(ring);
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The issuer this daemon signs as.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The keys to publish.
    pub fn published(&self) -> Vec<KeyView> {
        self.ring().views()
    }

    /// Signs an access token for `grant`, valid from `now` until `exp`.
    pub fn sign(
        &self,
        grant: Grant,
        now: OffsetDateTime,
        exp: OffsetDateTime,
    ) -> Result<(String, AccessClaims), TokenError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.sub,
            iat: rfc3339(now),
            nbf: rfc3339(now),
            exp: rfc3339(exp),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            scope: tessera_common::scopes::join(&grant.scopes),
            role: grant.role,
            sid: grant.sid,
            username: grant.username,
            client_id: grant.client_id,
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| TokenError::Key(e.to_string()))?;
        let ring = self.ring();
        let token = PublicToken::sign(&ring.signing, &payload, Some(&ring.footer), None)
            .map_err(|e| TokenError::Key(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature, issuer and validity window; returns the claims.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let untrusted = UntrustedToken::<Public, V4>::try_from(token).map_err(|_| TokenError::Invalid)?;
        let footer = untrusted.untrusted_footer();
        if footer.is_empty() || footer.len() > MAX_FOOTER_LEN {
            return Err(TokenError::Invalid);
        }
        let Footer { kid } = serde_json::from_slice(footer).map_err(|_| TokenError::Invalid)?;
        let ring = self.ring();
        let key = ring.verifying.get(&kid).ok_or(TokenError::UnknownKey)?;
        let trusted = PublicToken::verify(&key.public, &untrusted, None, None).map_err(|_| TokenError::Invalid)?;
        let claims: AccessClaims = serde_json::from_str(trusted.payload()).map_err(|_| TokenError::Invalid)?;
        if claims.iss != self.issuer {
            return Err(TokenError::Invalid);
        }
        let (Some(nbf), Some(exp)) = (parse_rfc3339(&claims.nbf), parse_rfc3339(&claims.exp)) else {
            return Err(TokenError::Invalid);
        };
        if now < nbf || now >= exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tessera_common::api::KeyStatus;

    fn setup() -> (tempfile::TempDir, Store, Tokens, OffsetDateTime) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let tokens = Tokens::load(&store, "http://issuer".into(), now).unwrap();
        (dir, store, tokens, now)
    }

    fn grant() -> Grant {
        Grant {
            sub: "u1".into(),
            scopes: vec!["read".into(), "write".into()],
            role: Some("user".into()),
            ..Grant::default()
        }
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (_dir, _store, tokens, now) = setup();
        let (token, claims) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        assert!(token.starts_with("v4.public."));
        assert_eq!(tokens.verify(&token, now + Duration::from_secs(59)).unwrap(), claims);
        assert_eq!(claims.scope, "read write");
        assert!(matches!(
            tokens.verify(&token, now + Duration::from_secs(60)),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            tokens.verify(&token, now - Duration::from_secs(1)),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn key_survives_reload_and_footer_names_it() {
        let (_dir, store, tokens, now) = setup();
        let (token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        let again = Tokens::load(&store, "http://issuer".into(), now).unwrap();
        assert!(again.verify(&token, now).is_ok());
        let kid = &again.published()[0].kid;
        assert!(kid.starts_with("k4.pid."));
        let footer = token.rsplit('.').next().unwrap();
        let footer = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, footer).unwrap();
        assert_eq!(String::from_utf8(footer).unwrap(), format!("{{\"kid\":\"{kid}\"}}"));
    }

    #[test]
    fn rotation_keeps_old_tokens_verifying_until_swept() {
        let (_dir, store, tokens, now) = setup();
        let (old_token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        let old_kid = tokens.published()[0].kid.clone();
        let new_kid = tokens.rotate(&store, now).unwrap();
        assert_ne!(old_kid, new_kid);
        let (new_token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        assert!(new_token.ends_with(&footer_of(&new_kid)));
        assert!(tokens.verify(&old_token, now).is_ok(), "retiring key still verifies");
        let published = tokens.published();
        assert_eq!(published.len(), 2);
        assert_eq!(
            (published[0].kid.as_str(), published[0].status),
            (new_kid.as_str(), KeyStatus::Active)
        );
        assert_eq!(published[1].status, KeyStatus::Retiring);
        assert!(tokens.sweep(&store, now.unix_timestamp() - 1).unwrap().is_empty());
        assert_eq!(tokens.sweep(&store, now.unix_timestamp()).unwrap(), vec![old_kid]);
        assert!(matches!(tokens.verify(&old_token, now), Err(TokenError::UnknownKey)));
        assert!(tokens.verify(&new_token, now).is_ok());
        let reloaded = Tokens::load(&store, "http://issuer".into(), now).unwrap();
        assert_eq!(reloaded.published().len(), 1, "the sweep is stored");
    }

    fn footer_of(kid: &str) -> String {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("{{\"kid\":\"{kid}\"}}"),
        )
    }

    #[test]
    fn tampering_and_foreign_keys_are_refused() {
        let (_dir, _store, tokens, now) = setup();
        let (_other_dir, _other_store, other, _) = setup();
        let (token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        let (foreign, _) = other.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        assert!(matches!(tokens.verify(&foreign, now), Err(TokenError::UnknownKey)));
        let mut bytes = token.clone().into_bytes();
        bytes[20] ^= 1;
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(tokens.verify(&tampered, now), Err(TokenError::Invalid)));
        // Re-attach our footer to a foreign signature: unknown key is not the answer,
        // the signature check is.
        let ours_footer = token.rsplit('.').next().unwrap();
        let parts: Vec<&str> = foreign.split('.').collect();
        let spliced = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], ours_footer);
        assert!(matches!(tokens.verify(&spliced, now), Err(TokenError::Invalid)));
        for junk in [
            "",
            "v4.public.",
            "v4.local.abc.def",
            "v2.public.abc",
            &"a".repeat(10_000),
        ] {
            assert!(tokens.verify(junk, now).is_err());
        }
    }
}
