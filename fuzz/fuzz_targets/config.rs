//! The configuration reader: any text is a configuration or a list of problems.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tesserad::config::{Config, Overrides};

fuzz_target!(|text: &str| {
    if let Err(e) = Config::from_toml(text, &Overrides::default()) {
        assert!(!e.to_string().is_empty());
    }
});
