//! Signing keys: generation on first start, the active keys, and the published sets.

use crate::clock::rfc3339_unix;
use crate::records::{KeyKind, KeyRecord};
use pasetors::keys::{AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::version4::V4;
use std::collections::HashMap;
use tessera_common::api::{KeyStatus, KeyView};
use time::OffsetDateTime;

use super::TokenError;
use super::id_token::{self, IdKeys};

/// A key that can verify tokens, with what is published about it.
pub(super) struct VerifyingKey {
    pub(super) public: AsymmetricPublicKey<V4>,
    pub(super) view: KeyView,
}

/// The active PASETO key and every PASETO key still trusted for verification, and
/// the ID-token keys.
pub(super) struct KeyRing {
    pub(super) signing: AsymmetricSecretKey<V4>,
    /// Footer bytes for the active key: `{"kid":"k4.pid...."}`.
    pub(super) footer: Vec<u8>,
    pub(super) verifying: HashMap<String, VerifyingKey>,
    pub(super) id: IdKeys,
    /// The records the ring was built from, as stored.
    pub(super) records: Vec<KeyRecord>,
}

/// Makes a new key record of `kind`.
pub(super) fn generate(kind: KeyKind, now: OffsetDateTime) -> Result<KeyRecord, TokenError> {
    if let Some(alg) = id_token::alg_of(kind) {
        return id_token::generate(alg, now);
    }
    let pair = AsymmetricKeyPair::<V4>::generate().map_err(|e| TokenError::Key(e.to_string()))?;
    Ok(KeyRecord {
        kid: paserk_id(&pair.public)?,
        secret: pair.secret.as_bytes().to_vec(),
        created_at: now.unix_timestamp(),
        retired_at: None,
        kind,
    })
}

fn paserk_id(public: &AsymmetricPublicKey<V4>) -> Result<String, TokenError> {
    let mut kid = String::new();
    Id::from(public)
        .fmt(&mut kid)
        .map_err(|e| TokenError::Key(e.to_string()))?;
    Ok(kid)
}

impl KeyRing {
    /// Builds the ring from stored records; the non-retired key of each kind signs.
    pub(super) fn from_records(records: Vec<KeyRecord>) -> Result<Self, TokenError> {
        let mut verifying = HashMap::new();
        let mut signing = None;
        for record in records.iter().filter(|r| r.kind == KeyKind::Paseto) {
            let secret = AsymmetricSecretKey::<V4>::from(&record.secret).map_err(|e| TokenError::Key(e.to_string()))?;
            let public = AsymmetricPublicKey::<V4>::try_from(&secret).map_err(|e| TokenError::Key(e.to_string()))?;
            let kid = paserk_id(&public)?;
            if kid != record.kid {
                return Err(TokenError::Key(format!(
                    "stored key {} does not match its secret",
                    record.kid
                )));
            }
            let mut paserk = String::new();
            public.fmt(&mut paserk).map_err(|e| TokenError::Key(e.to_string()))?;
            let status = if record.retired_at.is_none() {
                KeyStatus::Active
            } else {
                KeyStatus::Retiring
            };
            let view = KeyView {
                kid: kid.clone(),
                paserk,
                version: "v4".into(),
                purpose: "public".into(),
                status,
                created_at: rfc3339_unix(record.created_at),
            };
            if status == KeyStatus::Active {
                signing = Some((kid.clone(), secret));
            }
            verifying.insert(kid, VerifyingKey { public, view });
        }
        let (kid, signing) = signing.ok_or_else(|| TokenError::Key("no active signing key".into()))?;
        let footer =
            serde_json::to_vec(&tessera_common::claims::Footer { kid }).map_err(|e| TokenError::Key(e.to_string()))?;
        Ok(Self {
            signing,
            footer,
            verifying,
            id: IdKeys::from_records(&records)?,
            records,
        })
    }

    /// What `GET /api/auth/keys` publishes: active first, then retiring, newest first.
    pub(super) fn views(&self) -> Vec<KeyView> {
        let mut views: Vec<KeyView> = self.verifying.values().map(|k| k.view.clone()).collect();
        views.sort_by(|a, b| {
            (a.status != KeyStatus::Active, &b.created_at).cmp(&(b.status != KeyStatus::Active, &a.created_at))
        });
        views
    }
}
