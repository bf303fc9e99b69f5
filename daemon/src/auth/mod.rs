//! Authentication mechanics: password hashing, login throttling and rate limits.

#[cfg(feature = "test-hooks")]
mod gate;
pub mod password;
pub mod rate;
pub mod throttle;
