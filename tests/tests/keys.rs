//! Published keys, and interoperability with an independent PASETO implementation.

use crate::harness::{ISSUER, TestDaemon, s};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusty_paseto::core::{Footer, ImplicitAssertion, Key, Paseto, PasetoAsymmetricPublicKey, Public, V4};
use serde_json::Value;

async fn published(d: &TestDaemon) -> Vec<Value> {
    let resp = d.get("/api/auth/keys", None).await;
    assert_eq!(resp.status, 200);
    resp.json()["keys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn keys_are_published_as_paserk() {
    let d = TestDaemon::start();
    let keys = published(&d).await;
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert!(s(key, "kid").starts_with("k4.pid."));
    assert!(s(key, "paserk").starts_with("k4.public."));
    assert_eq!(
        (key["version"].as_str(), key["purpose"].as_str()),
        (Some("v4"), Some("public"))
    );
    assert_eq!(key["status"], "active");
    assert!(s(key, "createdAt").ends_with('Z'));
}

/// Verifies an access token with rusty_paseto (ed25519-dalek inside), knowing only
/// the PASERK published at /api/auth/keys.
#[tokio::test]
async fn an_independent_paseto_library_verifies_our_tokens() {
    let d = TestDaemon::start();
    let token = s(&d.register("interop").await, "accessToken");
    let keys = published(&d).await;

    let footer_b64 = token.rsplit('.').next().unwrap();
    let footer = String::from_utf8(URL_SAFE_NO_PAD.decode(footer_b64).unwrap()).unwrap();
    let kid = s(&serde_json::from_str(&footer).unwrap(), "kid");
    let key = keys
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("footer kid is published");
    let raw = URL_SAFE_NO_PAD
        .decode(s(key, "paserk").strip_prefix("k4.public.").unwrap())
        .unwrap();
    let raw: [u8; 32] = raw.try_into().unwrap();
    let key = Key::<32>::from(raw);
    let public = PasetoAsymmetricPublicKey::<V4, Public>::from(&key);

    let payload = Paseto::<V4, Public>::try_verify(
        &token,
        &public,
        Footer::from(footer.as_str()),
        None::<ImplicitAssertion>,
    )
    .expect("rusty_paseto verifies the token");
    let claims: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["username"], "interop");
    assert_eq!(claims["role"], "user");
    assert_eq!(claims["scope"], "read write");
    for claim in ["sub", "iat", "nbf", "exp", "jti", "sid"] {
        assert!(claims[claim].is_string(), "{claim} in {claims}");
    }
    assert!(
        s(&claims, "exp") > s(&claims, "iat"),
        "RFC 3339 strings in UTC compare as times"
    );

    // A flipped payload byte must fail in the other library too.
    let mut forged = token.into_bytes();
    forged[12] = if forged[12] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(
        Paseto::<V4, Public>::try_verify(
            &forged,
            &public,
            Footer::from(footer.as_str()),
            None::<ImplicitAssertion>
        )
        .is_err()
    );
}
