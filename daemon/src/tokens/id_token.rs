//! ID tokens (OpenID Connect Core 1.0 §2): JWS compact JWTs (RFC 7515) signed RS256
//! (RSA-2048, PKCS#1 v1.5 with SHA-256) or EdDSA (Ed25519, RFC 8037), and the JWK Set
//! (RFC 7517) that publishes their keys. These keys are not the PASETO keys: a key
//! serves one protocol only.
//!
//! Signing and verification are `ring`'s (constant-time RSA). `ring` cannot make RSA
//! keys, so the `rsa` crate generates them, and nothing else (see docs/decisions.md).

use super::TokenError;
use crate::records::{KeyKind, KeyRecord};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_common::oauth::{IdClaims, IdTokenAlg, Jwk};
use time::OffsetDateTime;

/// Size of the RSA keys made here.
const RSA_BITS: usize = 2048;
/// Longest ID token read back (an `id_token_hint`); ours are well under 2 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The kind of key that signs with `alg`.
pub(super) fn kind_of(alg: IdTokenAlg) -> KeyKind {
    match alg {
        IdTokenAlg::RS256 => KeyKind::IdTokenRs256,
        IdTokenAlg::EdDSA => KeyKind::IdTokenEdDsa,
    }
}

/// The algorithm a key of `kind` signs with; `None` for PASETO keys.
pub(super) fn alg_of(kind: KeyKind) -> Option<IdTokenAlg> {
    match kind {
        KeyKind::Paseto => None,
        KeyKind::IdTokenRs256 => Some(IdTokenAlg::RS256),
        KeyKind::IdTokenEdDsa => Some(IdTokenAlg::EdDSA),
    }
}

fn key_error(e: impl std::fmt::Display) -> TokenError {
    TokenError::Key(e.to_string())
}

/// Makes a new key record for `alg`.
pub(super) fn generate(alg: IdTokenAlg, now: OffsetDateTime) -> Result<KeyRecord, TokenError> {
    let secret = match alg {
        IdTokenAlg::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(key_error)?;
            key.to_pkcs8_der().map_err(key_error)?.as_bytes().to_vec()
        }
        IdTokenAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| key_error("could not generate an Ed25519 key"))?
            .as_ref()
            .to_vec(),
    };
    let (_, jwk) = load(alg, &secret)?;
    Ok(KeyRecord {
        kid: jwk.kid,
        secret,
        created_at: now.unix_timestamp(),
        retired_at: None,
        kind: kind_of(alg),
    })
}

/// What signs, and what verifies.
enum Pair {
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// Parses a PKCS#8 key of `alg`; returns it and its public JWK, whose `kid` is its
/// thumbprint (RFC 7638).
fn load(alg: IdTokenAlg, pkcs8: &[u8]) -> Result<(Pair, Jwk), TokenError> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    Ok(match alg {
        IdTokenAlg::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(key_error)?;
            let public: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
            let (n, e) = (b64(&public.n), b64(&public.e));
            let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
            let jwk = Jwk {
                kty: "RSA".into(),
                kid,
                use_: "sig".into(),
                alg: alg.name().into(),
                n: Some(n),
                e: Some(e),
                crv: None,
                x: None,
            };
            (Pair::Rsa(pair), jwk)
        }
        IdTokenAlg::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(key_error)?;
            let x = b64(pair.public_key().as_ref());
            let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
            let jwk = Jwk {
                kty: "OKP".into(),
                kid,
                use_: "sig".into(),
                alg: alg.name().into(),
                n: None,
                e: None,
                crv: Some("Ed25519".into()),
                x: Some(x),
            };
            (Pair::Ed(pair), jwk)
        }
    })
}

/// RFC 7638: base64url SHA-256 of the JWK's required members, in lexicographic order
/// without whitespace (`canonical`).
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The JOSE header of the ID tokens signed here.
#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    kid: String,
    typ: String,
}

/// One ID-token key.
struct IdKey {
    alg: IdTokenAlg,
    pair: Pair,
    jwk: Jwk,
    created_at: i64,
    active: bool,
}

/// The ID-token keys: one active key of each algorithm, and those retiring.
pub(super) struct IdKeys {
    /// Active keys first, then newest first.
    keys: Vec<IdKey>,
}

impl IdKeys {
    /// The ID-token keys among `records`; there must be an active one of each algorithm.
    pub(super) fn from_records(records: &[KeyRecord]) -> Result<Self, TokenError> {
        let mut keys = Vec::new();
        for record in records {
            let Some(alg) = alg_of(record.kind) else {
                continue;
            };
            let (pair, jwk) = load(alg, &record.secret)?;
            if jwk.kid != record.kid {
                return Err(TokenError::Key(format!(
                    "stored key {} does not match its secret",
                    record.kid
                )));
            }
            keys.push(IdKey {
                alg,
                pair,
                jwk,
                created_at: record.created_at,
                active: record.retired_at.is_none(),
            });
        }
        if let Some(missing) = IdTokenAlg::ALL
            .into_iter()
            .find(|alg| !keys.iter().any(|k| k.active && k.alg == *alg))
        {
            return Err(TokenError::Key(format!("no active {missing} ID-token key")));
        }
        // Active first, newest first, RS256 before EdDSA: the same order on every daemon.
        keys.sort_by(|a, b| {
            let order = |k: &IdKey| (!k.active, std::cmp::Reverse(k.created_at), k.alg != IdTokenAlg::RS256);
            order(a).cmp(&order(b)).then_with(|| a.jwk.kid.cmp(&b.jwk.kid))
        });
        Ok(Self { keys })
    }

    /// The public keys, active first.
    pub(super) fn jwks(&self) -> Vec<Jwk> {
        self.keys.iter().map(|k| k.jwk.clone()).collect()
    }

    /// Signs `claims` with the active key of `alg`.
    pub(super) fn sign(&self, alg: IdTokenAlg, claims: &IdClaims) -> Result<String, TokenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.active && k.alg == alg)
            .ok_or_else(|| TokenError::Key(format!("no active {alg} ID-token key")))?;
        let header = Header {
            alg: alg.name().into(),
            kid: key.jwk.kid.clone(),
            typ: "JWT".into(),
        };
        let mut token = format!("{}.{}", b64_json(&header)?, b64_json(claims)?);
        let signature = match &key.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    token.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| key_error("RSA signing failed"))?;
                signature
            }
            Pair::Ed(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    /// The claims of an ID token signed by one of these keys, expired or not; `None`
    /// for anything else.
    pub(super) fn read(&self, token: &str) -> Option<IdClaims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, claims) = signed.split_once('.')?;
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let key = self
            .keys
            .iter()
            .find(|k| k.jwk.kid == header.kid && k.alg.name() == header.alg)?;
        let verified = match &key.pair {
            Pair::Rsa(pair) => {
                let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                public.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
            }
            Pair::Ed(pair) => signature::UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref())
                .verify(signed.as_bytes(), &signature),
        };
        verified.ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

/// `value` as base64url JSON.
fn b64_json(value: &impl Serialize) -> Result<String, TokenError> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).map_err(key_error)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> IdKeys {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let records: Vec<KeyRecord> = IdTokenAlg::ALL.map(|alg| generate(alg, now).unwrap()).to_vec();
        IdKeys::from_records(&records).unwrap()
    }

    fn claims() -> IdClaims {
        IdClaims {
            iss: "https://issuer.example".into(),
            sub: "u1".into(),
            aud: "web".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            ..IdClaims::default()
        }
    }

    #[test]
    fn thumbprints_are_those_of_rfc_7638_and_rfc_8037() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let canonical = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#);
        assert_eq!(thumbprint(&canonical), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        // RFC 8037 appendix A.3.
        let canonical = r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert_eq!(thumbprint(canonical), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn each_algorithm_signs_and_reads_back_its_own_tokens_only() {
        let keys = keys();
        let other = self::keys();
        for alg in IdTokenAlg::ALL {
            let token = keys.sign(alg, &claims()).unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header["alg"], alg.name());
            assert_eq!(header["typ"], "JWT");
            let kid = header["kid"].as_str().unwrap();
            assert!(keys.jwks().iter().any(|k| k.kid == kid && k.alg == alg.name()));
            assert_eq!(keys.read(&token), Some(claims()));
            assert_eq!(other.read(&token), None, "{alg}: another daemon's keys");
            // Any byte changed, in any part.
            for at in (0..token.len()).step_by(7) {
                let mut bytes = token.clone().into_bytes();
                if bytes[at] == b'.' {
                    continue;
                }
                bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
                let forged = String::from_utf8(bytes).unwrap();
                assert_eq!(keys.read(&forged), None, "{alg}: changed at {at}");
            }
        }
        for junk in ["", "a.b", "a.b.c", "..", &"a".repeat(10_000)] {
            assert_eq!(keys.read(junk), None);
        }
    }

    #[test]
    fn the_jwks_publishes_public_parameters_only() {
        let jwks = serde_json::to_value(keys().jwks()).unwrap();
        let jwks = jwks.as_array().unwrap();
        assert_eq!(jwks.len(), 2);
        for jwk in jwks {
            let members: Vec<&str> = jwk.as_object().unwrap().keys().map(String::as_str).collect();
            let expected: &[&str] = match jwk["kty"].as_str().unwrap() {
                "RSA" => &["alg", "e", "kid", "kty", "n", "use"],
                "OKP" => &["alg", "crv", "kid", "kty", "use", "x"],
                other => panic!("{other}"),
            };
            let mut sorted = members.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, expected);
            assert_eq!(jwk["use"], "sig");
        }
        let rsa = jwks.iter().find(|k| k["kty"] == "RSA").unwrap();
        let n = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len() * 8, RSA_BITS, "a 2048-bit modulus");
        assert_eq!(rsa["e"], "AQAB");
    }
}
