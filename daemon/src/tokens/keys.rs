//! Signing keys: generation on first start, the active key, and the published set.

use crate::clock::rfc3339_unix;
use crate::records::KeyRecord;
use pasetors::keys::{AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate};
use pasetors::paserk::{FormatAsPaserk, Id};
use pasetors::version4::V4;
use std::collections::HashMap;
use tessera_common::api::{KeyStatus, KeyView};
use time::OffsetDateTime;

use super::TokenError;

/// A key that can verify tokens, with what is published about it.
pub(super) struct VerifyingKey {
    pub(super) public: AsymmetricPublicKey<V4>,
    pub(super) view: KeyView,
}

/// The active signing key and every key still trusted for verification.
pub(super) struct KeyRing {
    pub(super) signing: AsymmetricSecretKey<V4>,
    /// Footer bytes for the active key: `{"kid":"k4.pid...."}`.
    pub(super) footer: Vec<u8>,
    pub(super) verifying: HashMap<String, VerifyingKey>,
    /// The records the ring was built from, as stored.
    pub(super) records: Vec<KeyRecord>,
}

/// Makes a new Ed25519 key record.
pub(super) fn generate(now: OffsetDateTime) -> Result<KeyRecord, TokenError> {
    let pair = AsymmetricKeyPair::<V4>::generate().map_err(|e| TokenError::Key(e.to_string()))?;
    Ok(KeyRecord {
        kid: paserk_id(&pair.public)?,
        secret: pair.secret.as_bytes().to_vec(),
        created_at: now.unix_timestamp(),
        retired_at: None,
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
    /// Builds the ring from stored records; the newest non-retired key signs.
    pub(super) fn from_records(records: Vec<KeyRecord>) -> Result<Self, TokenError> {
        let mut verifying = HashMap::new();
        let mut signing = None;
        for record in &records {
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
