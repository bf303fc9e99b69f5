//! Access-token verification (footer, kid, signature, claims): any string is refused
//! or verified, never a panic; nothing forged verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tesserad::store::Store;
use tesserad::tokens::Tokens;

struct Fixture {
    tokens: Tokens,
    _store: Store,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let tokens = Tokens::load(&store, "http://fuzz.test".into(), time::OffsetDateTime::now_utc()).expect("key");
        Fixture {
            tokens,
            _store: store,
            _dir: dir,
        }
    })
}

fuzz_target!(|token: &str| {
    let f = fixture();
    // Only tokens this key signed verify; the fuzzer cannot sign.
    assert!(f.tokens.verify(token, time::OffsetDateTime::now_utc()).is_err());
});
