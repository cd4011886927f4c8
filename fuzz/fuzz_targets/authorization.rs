//! The `Authorization` header parser (Bearer and Basic): never a panic, and
//! a Bearer token it accepts is exactly the bytes after the scheme.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate_core::enforce::{Credentials, parse_authorization};

fuzz_target!(|data: &[u8]| {
    for basic in [false, true] {
        if let Ok(Credentials::Bearer(token)) = parse_authorization(data, basic) {
            assert!(!token.is_empty());
            assert!(data.ends_with(token.as_bytes()), "{token:?}");
        }
    }
});
