//! The token endpoint's form parsing (`http/form.rs`, its own source): never a
//! panic; what it accepts has at most 50 parameters, each name once, and
//! every accepted value is what a plain form decoder reads.
#![no_main]

#[allow(dead_code, clippy::all)]
#[path = "../../crates/scopegate-server/src/http/form.rs"]
mod form;

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let Ok(form) = form::Form::parse(&headers, body) else {
        return;
    };
    let pairs = form.pairs();
    assert!(pairs.len() <= form::MAX_PARAMETERS);
    for (i, (name, value)) in pairs.iter().enumerate() {
        assert!(pairs[..i].iter().all(|(n, _)| n != name), "{name:?} twice");
        if !value.is_empty() {
            assert_eq!(form.get(name), Some(value.as_str()));
        }
    }
    let plain: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    assert_eq!(plain.as_slice(), pairs);
});
