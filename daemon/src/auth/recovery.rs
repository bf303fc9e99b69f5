//! Recovery codes: ten single-use codes of ten characters of `[a-z2-9]`, shown as
//! `xxxxx-xxxxx` (dash and case ignored when typed), stored as SHA-256 digests.

use sha2::{Digest, Sha256};

/// Codes per set.
pub const COUNT: usize = 10;
/// Characters per code (without the dash).
const LENGTH: usize = 10;
/// The characters a code is made of.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz23456789";

/// A new set of codes, as shown to the person.
pub fn generate() -> Result<Vec<String>, getrandom::Error> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> Result<String, getrandom::Error> {
    // Rejection sampling: bytes past the last whole multiple of the alphabet would
    // make its first letters likelier.
    let limit = u8::try_from(256 / ALPHABET.len() * ALPHABET.len()).unwrap_or(u8::MAX);
    let mut chars = Vec::with_capacity(LENGTH + 1);
    while chars.len() < LENGTH {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte)?;
        if byte[0] < limit {
            chars.push(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]);
        }
    }
    chars.insert(LENGTH / 2, b'-');
    Ok(String::from_utf8_lossy(&chars).into_owned())
}

/// The digest a typed code is looked up under: dashes and spaces dropped, lower-cased.
pub fn digest(typed: &str) -> [u8; 32] {
    let normal: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes()).into()
}

/// Whether `typed` could be a recovery code (rather than a TOTP code).
pub fn looks_like_one(typed: &str) -> bool {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).count() == LENGTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_dashed_codes_typed_in_any_case() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(code.as_bytes()[5], b'-');
            assert!(
                code.bytes().filter(|b| *b != b'-').all(|b| ALPHABET.contains(&b)),
                "{code}"
            );
            assert!(looks_like_one(code));
            let sloppy = code.replace('-', " ").to_uppercase();
            assert_eq!(digest(&sloppy), digest(code));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        assert!(!looks_like_one("123456"));
    }
}
