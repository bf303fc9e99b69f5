//! Access tokens: PASETO v4.public signing and verification, and the signing keys;
//! OpenID Connect ID tokens ([`id_token`]) with keys of their own.
//!
//! Verification reads the untrusted footer's `kid` with serde_json under a length
//! cap, fails closed on an unknown kid, checks the Ed25519 signature with the low-level
//! pasetors API, then `nbf` and `exp` against the injected clock. Revocation is not
//! checked here: that is the service's live view.

mod cache;
mod id_token;
mod keys;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::locks::{read, write};
use crate::records::{KeyKind, KeyRecord};
use cache::{Verified, VerifiedCache};
use keys::KeyRing;
use pasetors::Public;
use pasetors::token::UntrustedToken;
use pasetors::version4::{PublicToken, V4};
use std::sync::{Arc, RwLock};
use tessera_common::api::KeyView;
use tessera_common::claims::{AccessClaims, Footer};
use tessera_common::oauth::{IdClaims, IdTokenAlg, Jwks};
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
    changing: tokio::sync::Mutex<()>,
    /// Tokens already verified.
    cache: VerifiedCache,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A new key of each kind `records` has no active key of (all of them on first
/// start), to be stored before [`Tokens::new`] signs with them.
pub fn missing_keys(records: &[KeyRecord], now: OffsetDateTime) -> Result<Vec<KeyRecord>, TokenError> {
    KeyKind::ALL
        .into_iter()
        .filter(|kind| !records.iter().any(|r| r.kind == *kind && r.retired_at.is_none()))
        .map(|kind| keys::generate(kind, now))
        .collect()
}

impl Tokens {
    /// Signs as `issuer` with the active keys among `records` (the stored keys, one of
    /// each kind not retired: see [`missing_keys`]) and verifies with all of them, remembering
    /// up to `cache_entries` verified tokens (0: none).
    pub fn new(issuer: String, records: Vec<KeyRecord>, cache_entries: usize) -> Result<Self, TokenError> {
        let ring = KeyRing::from_records(records)?;
        Ok(Self {
            issuer,
            ring: RwLock::new(Arc::new(ring)),
            changing: tokio::sync::Mutex::new(()),
            cache: VerifiedCache::new(cache_entries),
        })
    }

    /// Makes a new signing key of each kind (PASETO and both ID-token keys); the
    /// previous ones go `retiring` and keep verifying. `persist` gets the new and
    /// changed records and must store them: the new keys sign only once it has.
    /// Returns the new PASETO kid.
    pub async fn rotate<E: From<TokenError>>(
        &self,
        now: OffsetDateTime,
        persist: impl AsyncFnOnce(&[KeyRecord]) -> Result<(), E>,
    ) -> Result<String, E> {
        let _changing = self.changing.lock().await;
        let mut records = self.ring().records.clone();
        let mut changed = Vec::new();
        for record in records.iter_mut().filter(|r| r.retired_at.is_none()) {
            record.retired_at = Some(now.unix_timestamp());
            changed.push(record.clone());
        }
        let mut kid = String::new();
        for kind in KeyKind::ALL {
            let new = keys::generate(kind, now)?;
            if kind == KeyKind::Paseto {
                kid.clone_from(&new.kid);
            }
            changed.push(new.clone());
            records.push(new);
        }
        let ring = KeyRing::from_records(records)?;
        persist(&changed).await?;
        self.install(ring);
        tracing::info!(%kid, "rotated the signing key");
        Ok(kid)
    }

    /// Drops retiring keys retired at or before `cutoff` (Unix seconds): no token they
    /// signed can still be live. `remove` gets their kids and must delete them from
    /// the store before they stop verifying here. Returns the dropped kids.
    pub async fn sweep<E: From<TokenError>>(
        &self,
        cutoff: i64,
        remove: impl AsyncFnOnce(&[String]) -> Result<(), E>,
    ) -> Result<Vec<String>, E> {
        let _changing = self.changing.lock().await;
        let (expired, kept): (Vec<_>, Vec<_>) = self
            .ring()
            .records
            .iter()
            .cloned()
            .partition(|k| k.retired_at.is_some_and(|at| at <= cutoff));
        if expired.is_empty() {
            return Ok(Vec::new());
        }
        let kids: Vec<String> = expired.into_iter().map(|k| k.kid).collect();
        let ring = KeyRing::from_records(kept)?;
        remove(&kids).await?;
        self.cache
            .retain_keys(&ring.verifying.keys().map(String::as_str).collect());
        self.install(ring);
        Ok(kids)
    }

    /// Takes the stored keys as they are now (another daemon rotated or swept them):
    /// signs with the active one, verifies with all, forgets tokens verified with a
    /// key that is gone. `read` reads them from the store while no rotation or sweep
    /// of this daemon runs, so a read made before one of them cannot undo it.
    pub async fn reload<E: From<TokenError>>(
        &self,
        read: impl AsyncFnOnce() -> Result<Vec<KeyRecord>, E>,
    ) -> Result<(), E> {
        let _changing = self.changing.lock().await;
        let ring = KeyRing::from_records(read().await?)?;
        self.cache
            .retain_keys(&ring.verifying.keys().map(String::as_str).collect());
        self.install(ring);
        Ok(())
    }

    fn install(&self, ring: KeyRing) {
        *write(&self.ring) = Arc::new(ring);
    }

    fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&read(&self.ring))
    }

    /// The issuer this daemon signs as.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The PASETO keys to publish.
    pub fn published(&self) -> Vec<KeyView> {
        self.ring().views()
    }

    /// The ID-token keys to publish (the JWK Set).
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.ring().id.jwks(),
        }
    }

    /// Signs an ID token with the active key of `alg`; `iss` is set here.
    pub fn sign_id_token(&self, alg: IdTokenAlg, mut claims: IdClaims) -> Result<String, TokenError> {
        claims.iss.clone_from(&self.issuer);
        self.ring().id.sign(alg, &claims)
    }

    /// The claims of an ID token this daemon issued (signed by one of its ID-token
    /// keys, with its issuer), expired or not; `None` for anything else.
    pub fn read_id_token(&self, token: &str) -> Option<IdClaims> {
        self.ring().id.read(token).filter(|c| c.iss == self.issuer)
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

    /// Verifies signature, issuer and validity window; returns the claims. A token
    /// verified before is found in the cache: only its key's trust and its validity
    /// window are checked again.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Arc<AccessClaims>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        if let Some(hit) = self.cache.get(token) {
            if !self.ring().verifying.contains_key(&*hit.kid) {
                return Err(TokenError::UnknownKey);
            }
            if now < hit.nbf || now >= hit.exp {
                return Err(TokenError::Expired);
            }
            return Ok(hit.claims);
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
        let claims = Arc::new(claims);
        let verified = Verified {
            claims: Arc::clone(&claims),
            kid: Arc::from(kid),
            nbf,
            exp,
        };
        self.cache.insert(token, verified);
        Ok(claims)
    }

    /// How many verified tokens are cached.
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tessera_common::api::KeyStatus;

    /// A first start's keys: one of each kind.
    fn fresh(now: OffsetDateTime) -> Vec<KeyRecord> {
        missing_keys(&[], now).unwrap()
    }

    fn setup() -> (Tokens, OffsetDateTime) {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let tokens = Tokens::new("http://issuer".into(), fresh(now), 8).unwrap();
        (tokens, now)
    }

    /// What a store would hold after `persist` and `remove` calls.
    #[derive(Default)]
    struct Stored(std::cell::RefCell<Vec<KeyRecord>>);

    impl Stored {
        fn put(&self, changed: &[KeyRecord]) -> Result<(), TokenError> {
            let mut all = self.0.borrow_mut();
            all.retain(|k| !changed.iter().any(|c| c.kid == k.kid));
            all.extend_from_slice(changed);
            Ok(())
        }

        fn remove(&self, kids: &[String]) -> Result<(), TokenError> {
            self.0.borrow_mut().retain(|k| !kids.contains(&k.kid));
            Ok(())
        }
    }

    fn grant() -> Grant {
        Grant {
            sub: "u1".into(),
            scopes: vec!["read".into(), "write".into()],
            role: Some("user".into()),
            ..Grant::default()
        }
    }

    /// A token valid for 60 s from `now` is refused at its expiry and before `now`.
    fn assert_refused_outside_its_window(tokens: &Tokens, token: &str, now: OffsetDateTime) {
        for at in [now + Duration::from_secs(60), now - Duration::from_secs(1)] {
            assert!(matches!(tokens.verify(token, at), Err(TokenError::Expired)), "at {at}");
        }
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let (tokens, now) = setup();
        let (token, claims) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        assert!(token.starts_with("v4.public."));
        assert_eq!(*tokens.verify(&token, now + Duration::from_secs(59)).unwrap(), claims);
        assert_eq!(claims.scope, "read write");
        assert_refused_outside_its_window(&tokens, &token, now);
    }

    #[test]
    fn a_key_reloaded_from_its_record_verifies_and_the_footer_names_it() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let keys = fresh(now);
        let tokens = Tokens::new("http://issuer".into(), keys.clone(), 8).unwrap();
        let (token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        let again = Tokens::new("http://issuer".into(), keys, 8).unwrap();
        assert!(again.verify(&token, now).is_ok());
        let kid = &again.published()[0].kid;
        assert!(kid.starts_with("k4.pid."));
        let footer = token.rsplit('.').next().unwrap();
        let footer = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, footer).unwrap();
        assert_eq!(String::from_utf8(footer).unwrap(), format!("{{\"kid\":\"{kid}\"}}"));
    }

    #[tokio::test]
    async fn rotation_keeps_old_tokens_verifying_until_swept() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let first = fresh(now);
        let stored = Stored(first.clone().into());
        let tokens = Tokens::new("http://issuer".into(), first, 8).unwrap();
        let (old_token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        let old_kid = tokens.published()[0].kid.clone();
        let new_kid = tokens.rotate(now, async |changed| stored.put(changed)).await.unwrap();
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
        let remove = async |kids: &[String]| stored.remove(kids);
        assert!(tokens.sweep(now.unix_timestamp() - 1, remove).await.unwrap().is_empty());
        let swept = tokens.sweep(now.unix_timestamp(), remove).await.unwrap();
        assert_eq!(swept.len(), 3, "the PASETO key and both ID-token keys: {swept:?}");
        assert!(swept.contains(&old_kid));
        assert!(matches!(tokens.verify(&old_token, now), Err(TokenError::UnknownKey)));
        assert!(tokens.verify(&new_token, now).is_ok());
        let reloaded = Tokens::new("http://issuer".into(), stored.0.take(), 8).unwrap();
        assert_eq!(reloaded.published().len(), 1, "the sweep is stored");
        assert!(reloaded.verify(&new_token, now).is_ok(), "the rotation is stored");
    }

    #[tokio::test]
    async fn a_reload_asked_during_a_rotation_reads_the_store_after_it() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let first = fresh(now);
        let stored = Stored(first.clone().into());
        let tokens = Tokens::new("http://issuer".into(), first, 8).unwrap();
        let (release, stored_at_last) = tokio::sync::oneshot::channel::<()>();
        // The rotation holds its lock while its write is on the way; the reload (a
        // change-log row arriving meanwhile) waits, then reads what was written.
        let rotation = tokens.rotate(now, async |changed| {
            let _ = stored_at_last.await;
            stored.put(changed)
        });
        let reload = tokens.reload(async || Ok::<_, TokenError>(stored.0.borrow().clone()));
        let release = async {
            tokio::task::yield_now().await;
            let _ = release.send(());
        };
        let ((rotated, reloaded), ()) = tokio::join!(async { tokio::join!(rotation, reload) }, release);
        let new_kid = rotated.unwrap();
        reloaded.unwrap();
        let published = tokens.published();
        assert_eq!(published.len(), 2, "the rotation stands: {published:?}");
        assert_eq!(published[0].kid, new_kid);
    }

    #[test]
    fn a_verified_token_is_cached_and_still_expires() {
        let (tokens, now) = setup();
        let (token, claims) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        assert_eq!(tokens.cached(), 0, "signing caches nothing");
        assert_eq!(*tokens.verify(&token, now).unwrap(), claims);
        assert_eq!(tokens.cached(), 1);
        assert_eq!(
            *tokens.verify(&token, now + Duration::from_secs(59)).unwrap(),
            claims,
            "a hit"
        );
        assert_eq!(tokens.cached(), 1);
        assert_refused_outside_its_window(&tokens, &token, now);
    }

    #[test]
    fn a_token_one_character_off_a_cached_one_is_verified_afresh() {
        let (tokens, now) = setup();
        let (token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        tokens.verify(&token, now).unwrap();
        // Every position: header, payload, signature and footer.
        for at in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            assert!(tokens.verify(&forged, now).is_err(), "changed at {at}");
        }
        assert_eq!(tokens.cached(), 1, "refused tokens are never cached");
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let (tokens, now) = setup(); // room for 8
        let mut first = None;
        for i in 0..100 {
            let (token, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
            tokens.verify(&token, now).unwrap();
            assert!(tokens.cached() <= 8, "{} after {i}", tokens.cached());
            first.get_or_insert(token);
        }
        // The evicted first token verifies again the long way.
        assert!(tokens.verify(&first.unwrap(), now).is_ok());
    }

    #[tokio::test]
    async fn a_swept_key_takes_its_cached_tokens_with_it() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let tokens = Tokens::new("http://issuer".into(), fresh(now), 8).unwrap();
        let (old, _) = tokens.sign(grant(), now, now + Duration::from_secs(60)).unwrap();
        tokens.verify(&old, now).unwrap();
        tokens.rotate(now, async |_| Ok::<(), TokenError>(())).await.unwrap();
        assert!(tokens.verify(&old, now).is_ok(), "retiring keys still verify");
        tokens
            .sweep(now.unix_timestamp(), async |_| Ok::<(), TokenError>(()))
            .await
            .unwrap();
        assert_eq!(tokens.cached(), 0, "the swept key's entries are gone");
        assert!(matches!(tokens.verify(&old, now), Err(TokenError::UnknownKey)));
    }

    #[tokio::test]
    async fn a_rotation_that_cannot_be_stored_changes_nothing() {
        let (tokens, now) = setup();
        let before = tokens.published();
        let failed = tokens
            .rotate(now, async |_| Err(TokenError::Key("disk full".into())))
            .await;
        assert!(failed.is_err());
        assert_eq!(tokens.published(), before, "an unstored key never signs");
    }

    fn footer_of(kid: &str) -> String {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("{{\"kid\":\"{kid}\"}}"),
        )
    }

    #[test]
    fn tampering_and_foreign_keys_are_refused() {
        let (tokens, now) = setup();
        let (other, _) = setup();
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
