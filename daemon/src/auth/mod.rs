//! Authentication mechanics: password hashing, login throttling and rate limits.

pub mod password;
pub mod rate;
pub mod throttle;
