//! Access-token verification (footer, kid, signature, claims): any string is refused
//! or verified, never a panic; nothing forged verifies.
//!
//! The first input byte picks what is fuzzed, so the fuzzer gets past the
//! `v4.public.` prefix without a seed corpus:
//! - 0: the rest of the input as a whole token;
//! - 1: a real token with the rest of the input as its footer (footer JSON, `kid`
//!   lookup, then the signature, which covers the footer);
//! - 2: a real token with bytes changed at positions the input picks.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tesserad::tokens::{Grant, Tokens};
use time::OffsetDateTime;

struct Fixture {
    tokens: Tokens,
    /// A token this key signed, valid for a day.
    real: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let now = OffsetDateTime::now_utc();
        let key = tesserad::tokens::new_key(now).expect("key");
        let tokens = Tokens::new("http://fuzz.test".into(), vec![key], 1024).expect("tokens");
        let grant = Grant {
            sub: "u1".into(),
            scopes: vec!["read".into()],
            role: Some("user".into()),
            ..Grant::default()
        };
        let (real, _) = tokens.sign(grant, now, now + time::Duration::days(1)).expect("sign");
        Fixture { tokens, real }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let now = OffsetDateTime::now_utc();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            // Only tokens this key signed verify; the fuzzer cannot sign.
            assert!(f.tokens.verify(&token, now).is_err() || token == f.real);
        }
        1 => {
            let (signed, footer) = f.real.rsplit_once('.').expect("real token has a footer");
            let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(rest));
            let verified = f.tokens.verify(&token, now).is_ok();
            // The signature covers the footer: only the original one verifies.
            assert_eq!(verified, URL_SAFE_NO_PAD.encode(rest) == footer, "footer {rest:?}");
        }
        _ => {
            let mut token = f.real.clone().into_bytes();
            for pair in rest.chunks_exact(2) {
                let at = usize::from(pair[0]) * token.len() / 256;
                token[at] = pair[1];
            }
            let token = String::from_utf8_lossy(&token);
            assert!(f.tokens.verify(&token, now).is_err() || token == f.real, "forged: {token}");
        }
    }
});
