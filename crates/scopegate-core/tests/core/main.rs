//! Rules of docs/policy.md, one test per rule, through the public API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop,
    clippy::op_ref
)]

mod cover;
mod decisions;
mod diff;
mod enforce;
mod laws;
mod load_errors;
mod mcp;
mod openapi;
mod paths;
mod routes;

use scopegate_core::{Held, Policy};

/// Compiles a policy from text, failing the test with its errors.
pub fn policy(source: &str) -> Policy {
    match Policy::compile("test.toml", source) {
        Ok(p) => p,
        Err(e) => panic!("policy should compile:\n{e}"),
    }
}

/// The closed set for a scope list.
pub fn held(policy: &Policy, scopes: &str) -> Held {
    let set = policy.catalog.parse_list(scopes).unwrap_or_else(|e| panic!("{e}"));
    policy.catalog.close(&set)
}

pub fn example(name: &str) -> Policy {
    let file = format!("{}/../../examples/{name}/scopegate.toml", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    Policy::compile(&file, &source).unwrap_or_else(|e| panic!("{e}"))
}
