//! The scope-list parsers (space-separated, comma-separated in
//! `X-OAuth-Scope`, form-encoded): never a panic, and whatever parses
//! prints back to a list that parses to the same set.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scopegate_core::Policy;

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::compile(
        "fuzz.toml",
        r#"
[[scope]]
name   = "account"
levels = ["read", "write"]

[[scope]]
name    = "orders"
implies = ["read_orders"]

[[scope]]
name = "read_orders"

[[scope]]
name = "https://api.example.com/oauth/api_scope/sell.inventory"
"#,
    )
    .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let catalog = &POLICY.catalog;
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(set) = catalog.parse_list(text) {
            let printed = catalog.display(&set);
            let again = catalog.parse_list(&printed).unwrap();
            assert_eq!(catalog.display(&again), printed);
        }
        let _ = catalog.known(text);
        // Form-encoded, as a token request carries it.
        if let Ok(pairs) = serde_urlencoded_like(text) {
            let _ = catalog.parse_list(&pairs);
        }
    }
    let held = catalog.close(&catalog.known("account:write orders"));
    let _ = scopegate_core::enforce::narrow_request(catalog, &held, std::iter::once(data));
});

/// `scope=` decoded the way a form is (`+` a space, `%XX` a byte).
fn serde_urlencoded_like(text: &str) -> Result<String, ()> {
    let bytes = scopegate_core::path::percent_decode(text.replace('+', " ").as_bytes());
    String::from_utf8(bytes).map_err(|_| ())
}
