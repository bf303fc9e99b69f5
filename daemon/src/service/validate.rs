//! Input rules for accounts (see docs/openapi.yaml).

use super::ServiceError;

/// Longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest display name, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// 3–32 of `[A-Za-z0-9._-]`, starting with a letter or digit.
pub fn username(name: &str) -> Result<(), ServiceError> {
    let ok = (3..=32).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "username",
            "username must be 3-32 of A-Z a-z 0-9 . _ - and start with a letter or digit",
        ))
    }
}

/// A bare address (RFC 5322 §3.4.1 `addr-spec` in its dot-atom form, with the UTF-8 of
/// RFC 6532): a local part of `atext` runs joined by single dots, one `@`, and a domain
/// of at least two dot-separated labels of letters, digits and inner hyphens; at most
/// 254 bytes. No display name (`Alice <a@example.com>`), no quoted local part
/// (`"a b"@example.com`), no domain literal: one mailbox has one spelling, so it can
/// hold one account, and no one chooses what a message's `To` shows.
pub fn email(address: &str) -> Result<(), ServiceError> {
    /// UTF-8 beyond ASCII (RFC 6532), but no spacing.
    fn wide(c: char) -> bool {
        !c.is_ascii() && !c.is_whitespace() && !c.is_control()
    }
    fn atext(c: char) -> bool {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || wide(c)
    }
    fn label(l: &str) -> bool {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || wide(c))
    }
    let ok = address.len() <= 254
        && match address.split_once('@') {
            Some((local, domain)) => {
                local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext))
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(label)
            }
            None => false,
        };
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "email",
            "email must be a bare address like name@example.com",
        ))
    }
}

/// True when the password's length in characters is within policy.
pub fn password_length_ok(password: &str, min: usize) -> bool {
    (min..=MAX_PASSWORD_CHARS).contains(&password.chars().count())
}

/// A new password must satisfy the length policy.
pub fn password(password: &str, min: usize) -> Result<(), ServiceError> {
    if password_length_ok(password, min) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "password",
            format!("password must be {min}-{MAX_PASSWORD_CHARS} characters"),
        ))
    }
}

/// 1–64 characters, no control characters.
pub fn display_name(name: &str) -> Result<(), ServiceError> {
    let len = name.chars().count();
    if (1..=MAX_DISPLAY_NAME_CHARS).contains(&len) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "displayName",
            "displayName must be 1-64 characters without control characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "a.b-c_d", "9lives", &"a".repeat(32)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", ".abc", "-abc", "a b", "ä123", "a@b.c", &"a".repeat(33), ""] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@example.com",
            "A.B+c@sub.example.org",
            "o'brien@example.ie",
            "x_y-z@mail-1.example.com",
            "jöran@exämple.se",
        ] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@@b.com",
            "a@b@c.com",
            "a @b.com",
            "a@.com",
            "a@b.",
            "a@b..com",
            &long,
            // Display names, quoting, comments and domain literals: not bare.
            "Alice<alice@example.com>",
            "Alice <alice@example.com>",
            "<alice@example.com>",
            "\"victim\"@corp.example",
            "\"a b\"@example.com",
            "alice(comment)@example.com",
            "alice@[127.0.0.1]",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example-.com",
            "alice@exa_mple.com",
            "alice,bob@example.com",
            "alice;@example.com",
            "alice\u{a0}@example.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(password_length_ok("éééééééé", 8));
        assert!(!password_length_ok("ééé", 8));
        assert!(!password_length_ok(&"x".repeat(129), 8));
        assert!(password(&"x".repeat(128), 8).is_ok());
    }
}
