//! Secrets: [`Secret`] wraps anything secret a client sends or the daemon makes
//! (passwords, refresh and API tokens, client secrets) so it never reaches a log and
//! is wiped when dropped. The opaque secrets the daemon generates (refresh `tsr_rt_`,
//! API `tsr_at_`, client `tsr_cs_`) are 256 random bits, stored only as their SHA-256
//! digest (see docs/decisions.md).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;

/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "tsr_rt_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "tsr_at_";
/// Prefix of OAuth client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "tsr_cs_";

/// A secret string whose `Debug` never shows it, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Secret {
    /// Wraps a secret received from a client.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one response that shows it or for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the secret: the key it is stored and looked up under.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Generates `prefix` + base64url(256 random bits).
pub fn generate(prefix: &str) -> Result<Secret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))))
}

/// Lower-case hex of a digest (for lineage links in records and log-safe references).
pub fn hex(digest: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_redacted() {
        let a = generate(REFRESH_PREFIX).unwrap();
        let b = generate(REFRESH_PREFIX).unwrap();
        assert!(a.expose().starts_with("tsr_rt_"));
        assert_eq!(a.expose().len(), 7 + 43);
        assert_ne!(a, b);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn digest_is_sha256() {
        let s = Secret::new("abc".into());
        assert_eq!(
            hex(&s.digest()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
