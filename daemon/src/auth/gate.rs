//! A test hook, built only with the `test-hooks` feature (the whole-process tests turn
//! it on): when `TESSERA_TEST_HASH_GATE` names a directory, every password check
//! writes `hashing` there as it starts and waits until `release` exists there (at most
//! a minute). A test can so land an operator's change while a login hashes, every
//! time, instead of hoping a slow hash is slow enough.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The longest a check waits at the gate.
const PATIENCE: Duration = Duration::from_secs(60);

/// Holds the calling thread at the gate, if one is set.
pub(super) fn hold() {
    let Some(dir) = std::env::var_os("TESSERA_TEST_HASH_GATE").map(PathBuf::from) else {
        return;
    };
    if std::fs::write(dir.join("hashing"), b"").is_err() {
        return;
    }
    let deadline = Instant::now() + PATIENCE;
    while !dir.join("release").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}
