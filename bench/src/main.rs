//! `ceilings`: what one core can do at best, measured in the same run as the
//! benchmark so that the daemon's numbers can be read as ratios. Prints one line of
//! JSON: PASETO v4.public sign and verify (µs per operation, on a payload the size of
//! the daemon's access-token claims), ID-token signing with RS256 and EdDSA (µs, through
//! the daemon's own token module, on an ID token with the profile and email claims) and
//! Argon2id verifications per second at the given parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use pasetors::Public;
use pasetors::keys::{AsymmetricKeyPair, Generate};
use pasetors::token::UntrustedToken;
use pasetors::version4::{PublicToken, V4};
use std::time::{Duration, Instant};
use tessera_common::oauth::{IdClaims, IdTokenAlg};
use tesserad::tokens::{Tokens, missing_keys};

/// A payload shaped like the daemon's claims for a user session token.
const CLAIMS: &str = r#"{"iss":"http://127.0.0.1:8080","sub":"0192f1e4-7c1a-7b3e-9f5d-2a6c8e0b4d13","iat":"2026-11-27T12:00:00Z","nbf":"2026-11-27T12:00:00Z","exp":"2026-11-27T13:00:00Z","jti":"6f1c2a9e8b7d4c3a9e0f1b2c3d4e5f60","scope":"read write","role":"user","sid":"0192f1e4-7c1a-7b3e-9f5d-2a6c8e0b4d14","username":"alice"}"#;
const FOOTER: &[u8] = br#"{"kid":"k4.pid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;

/// Runs `op` repeatedly for about `budget`; returns the mean time per call.
fn per_call(budget: Duration, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < budget {
        op();
        calls += 1;
    }
    start.elapsed() / calls.max(1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: u32| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (memory_kib, iterations, parallelism) = (number(1, 19_456), number(2, 2), number(3, 1));

    let pair = AsymmetricKeyPair::<V4>::generate()?;
    let token = PublicToken::sign(&pair.secret, CLAIMS.as_bytes(), Some(FOOTER), None)?;
    let sign = per_call(Duration::from_secs(2), || {
        PublicToken::sign(&pair.secret, CLAIMS.as_bytes(), Some(FOOTER), None).expect("sign");
    });
    let verify = per_call(Duration::from_secs(2), || {
        let untrusted = UntrustedToken::<Public, V4>::try_from(token.as_str()).expect("parse");
        PublicToken::verify(&pair.public, &untrusted, Some(FOOTER), None).expect("verify");
    });

    let now = time::OffsetDateTime::now_utc();
    let tokens = Tokens::new("http://127.0.0.1:8080".into(), missing_keys(&[], now)?, 0)?;
    let claims = IdClaims {
        sub: "0192f1e4-7c1a-7b3e-9f5d-2a6c8e0b4d13".into(),
        aud: "notes-web".into(),
        exp: Some(now.unix_timestamp() + 900),
        iat: Some(now.unix_timestamp()),
        auth_time: Some(now.unix_timestamp()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        amr: vec!["pwd".into()],
        sid: Some("0192f1e4-7c1a-7b3e-9f5d-2a6c8e0b4d14".into()),
        preferred_username: Some("alice".into()),
        name: Some("Alice".into()),
        email: Some("alice@example.com".into()),
        email_verified: Some(true),
        ..IdClaims::default()
    };
    let id_token = |alg| {
        per_call(Duration::from_secs(2), || {
            tokens.sign_id_token(alg, claims.clone()).expect("sign an ID token");
        })
    };
    let (rs256, eddsa) = (id_token(IdTokenAlg::RS256), id_token(IdTokenAlg::EdDSA));

    let params = Params::new(memory_kib, iterations, parallelism, None).map_err(|e| e.to_string())?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"tessera-bench-salt").map_err(|e| e.to_string())?;
    let phc = argon
        .hash_password(b"a benchmark password", &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let hash = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
    let argon2 = per_call(Duration::from_secs(3), || {
        argon.verify_password(b"a benchmark password", &hash).expect("verify");
    });

    let line = serde_json::json!({
        "paseto_sign_us": sign.as_secs_f64() * 1e6,
        "paseto_verify_us": verify.as_secs_f64() * 1e6,
        "id_token_rs256_sign_us": rs256.as_secs_f64() * 1e6,
        "id_token_eddsa_sign_us": eddsa.as_secs_f64() * 1e6,
        "argon2_per_s": 1.0 / argon2.as_secs_f64(),
        "argon2": format!("m={memory_kib},t={iterations},p={parallelism}"),
    });
    println!("{line}");
    Ok(())
}
