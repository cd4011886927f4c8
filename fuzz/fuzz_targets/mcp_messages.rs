//! What an MCP client and an MCP server send through the gateway: a request
//! body with its `Mcp-Method`/`Mcp-Name` headers, and a list answer (JSON or
//! event stream). Never a panic; an operation read from a body agrees with
//! its headers; a filtered answer is never longer than a tenth of a megabyte
//! more than what came in (the filter only removes and marks).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scopegate_core::mcp_call::McpCall;
use scopegate_core::{Caller, Policy};

const POLICY: &str = r#"
[[scope]]
name = "read"

[mcp]
path = "/mcp"

[[mcp_route]]
match  = "tools/call a*"
any_of = ["read"]

[[mcp_route]]
match   = "tools/list"
require = "client"
"#;

fn policy() -> &'static Policy {
    static POLICY_CELL: OnceLock<Policy> = OnceLock::new();
    POLICY_CELL.get_or_init(|| Policy::compile("fuzz.toml", POLICY).expect("the fuzz policy compiles"))
}

fuzz_target!(|data: &[u8]| {
    // First byte: where the headers end; then method header, name header, body.
    let Some((&split, rest)) = data.split_first() else { return };
    let cut = (split as usize).min(rest.len());
    let (headers, body) = rest.split_at(cut);
    let mid = headers.len() / 2;
    let (method, name) = headers.split_at(mid);
    if let Ok(call) = McpCall::from_body(body, [method].into_iter(), [name].into_iter()) {
        assert_eq!(call.method.as_bytes(), method);
        let from_headers = McpCall::from_headers([method].into_iter(), [name].into_iter()).expect("headers a body agreed with");
        assert_eq!(call, from_headers);
    }
    let p = policy();
    let held = p.catalog.close(&p.catalog.parse_list("read").expect("declared"));
    for event_stream in [false, true] {
        if let Ok(out) = p.filter_list_answer("tools/list", data, event_stream, Caller::Client(&held)) {
            assert!(out.len() <= data.len() + 100_000, "{} -> {}", data.len(), out.len());
        }
    }
});
