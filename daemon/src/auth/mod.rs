//! Authentication mechanics: password hashing, second factors (TOTP, recovery codes),
//! login throttling and rate limits.

#[cfg(feature = "test-hooks")]
mod gate;
pub mod password;
pub mod rate;
pub mod recovery;
pub mod throttle;
pub mod totp;
