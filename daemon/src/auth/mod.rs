//! Authentication mechanics: password hashing and login throttling.

pub mod password;
pub mod throttle;
