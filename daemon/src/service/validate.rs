//! Input rules for accounts (contract §2 "Validation").

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

/// One `@`, a non-empty local part, a dot inside the domain, at most 254 bytes, no
/// spaces or control characters.
pub fn email(address: &str) -> Result<(), ServiceError> {
    let ok = address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && match address.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "email",
            "email must be an address like name@example.com",
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
        for ok in ["a@example.com", "A.B+c@sub.example.org"] {
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
