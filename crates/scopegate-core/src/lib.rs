//! scopegate's policy engine: pure data and functions, no I/O, no async.
//!
//! It answers one question for every other part of scopegate: given this
//! policy, may a caller holding these scopes do METHOD PATH, and if not, why?
//! It is not the token server, the gateway or the store: those load data, ask
//! this crate, and act on the answer. Time is always a parameter.
//!
//! ```
//! use scopegate_core::{Caller, Decision, Policy};
//!
//! let policy = Policy::compile("example.toml", r#"
//!     [[scope]]
//!     name   = "account"
//!     levels = ["read", "write"]
//!
//!     [[route]]
//!     match  = "GET /account/*"
//!     any_of = ["account:read"]
//! "#).unwrap();
//!
//! let granted = policy.catalog.parse_list("account:write").unwrap();
//! let held = policy.catalog.close(&granted); // write implies read
//! let decision = policy.decide("GET", "/account/settings", Caller::Client(&held));
//! assert!(decision.is_allow());
//! assert_eq!(policy.decide("GET", "/account/%2e%2e/admin", Caller::Client(&held)).outcome(), "bad_path");
//! ```

pub mod admin;
pub mod admission;
pub mod basic;
mod catalog;
pub mod client_metadata;
pub mod clients;
mod config;
mod cover;
mod decision;
pub mod diff;
pub mod duration;
pub mod enforce;
pub mod explain;
pub mod jwt;
pub mod limits;
pub mod mcp;
pub mod mcp_call;
pub mod mcp_import;
pub mod mcp_list;
pub mod oauth;
pub mod openapi;
pub mod path;
mod policy;
pub mod redeem;
pub mod registration;
mod route;
pub mod scope;
mod scopeset;
pub mod sign_in;
pub mod timestamp;

pub use catalog::{Catalog, GrantKind, Held, NotHeld, ScopeInfo, UndeclaredScope};
pub use cover::{Cover, CoverError, CoverFor};
pub use decision::{Allowance, Caller, Decision, Outcome, Resolved};
pub use policy::{
    GatewaySettings, LogFormat, McpSettings, Policy, PolicyError, PolicyErrors, Route, RoutePattern, Settings,
    SigningAlgorithm, TokenFormat, TokenSettings, Upstream,
};
pub use route::{MatchPattern, MethodPattern, PatternError, Requirement, RouteId, Segment};
pub use scope::{ScopeToken, ScopeTokenError};
pub use scopeset::{ScopeId, ScopeSet};
