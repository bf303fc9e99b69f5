//! The admin protocol codec: any line either parses into a frame that encodes back to
//! an equal frame, or is an error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_common::admin::{ClientFrame, ServerFrame, encode};

fuzz_target!(|line: &[u8]| {
    if let Ok(frame) = serde_json::from_slice::<ClientFrame>(line) {
        let again = encode(&frame).expect("a parsed frame encodes");
        assert_eq!(serde_json::from_slice::<ClientFrame>(&again).ok(), Some(frame));
    }
    if let Ok(frame) = serde_json::from_slice::<ServerFrame>(line) {
        let again = encode(&frame).expect("a parsed frame encodes");
        assert_eq!(serde_json::from_slice::<ServerFrame>(&again).ok(), Some(frame));
    }
});
