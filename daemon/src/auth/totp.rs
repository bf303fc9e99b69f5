//! Time-based one-time passwords (RFC 6238): HOTP (RFC 4226) over HMAC-SHA-1 from
//! `ring`, 6 digits, a 30-second step, the previous and next step accepted too. The
//! rule that a step is used at most once is the store's (it remembers the last step
//! each user used).

use ring::hmac;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// The step `unix` falls in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// The code of `secret` at `step` (RFC 4226 §5.3, dynamic truncation).
pub fn code(secret: &[u8], step: i64) -> String {
    code_of_width(secret, step, DIGITS)
}

fn code_of_width(secret: &[u8], step: i64, digits: usize) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    let modulus = 10u64.pow(u32::try_from(digits).unwrap_or(8));
    format!("{:0width$}", u64::from(word) % modulus, width = digits)
}

/// The step among `now`'s, the previous and the next whose code `typed` is (spaces
/// ignored), if any. Every candidate is compared, in constant time.
pub fn matching_step(secret: &[u8], typed: &str, now: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        if bool::from(code(secret, step).as_bytes().ct_eq(typed.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps read (from a QR code): the label is
/// `issuer:account`, and the parameters name the algorithm, digits and period.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// A secret in the unpadded base32 authenticator apps take.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the secret is the ASCII of "12345678901234567890".
    #[test]
    fn the_rfc_6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_of_width(secret, step_at(time), 8), expected, "T = {time}");
        }
        // The 6-digit codes are the last six digits of those.
        assert_eq!(code(secret, step_at(59)), "287082");
    }

    #[test]
    fn the_previous_current_and_next_steps_match_and_nothing_else() {
        let secret = [7u8; SECRET_BYTES];
        let now = 1_800_000_015;
        let current = step_at(now);
        for step in [current - 1, current, current + 1] {
            assert_eq!(matching_step(&secret, &code(&secret, step), now), Some(step));
        }
        for step in [current - 2, current + 2] {
            assert_eq!(matching_step(&secret, &code(&secret, step), now), None, "step {step}");
        }
        let spaced = code(&secret, current);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(matching_step(&secret, &spaced, now), Some(current));
        for junk in ["", "12345", "1234567", "abcdef", "12345x"] {
            assert_eq!(matching_step(&secret, junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Acme Corp", "alice@example.com", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:alice%40example%2Ecom?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(base32(b"Hello!\xde\xad\xbe\xef"), "JBSWY3DPEHPK3PXP");
    }
}
