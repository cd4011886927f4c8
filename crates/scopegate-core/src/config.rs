//! The policy file as written: serde structs that mirror the TOML one to one,
//! refuse unknown keys and keep each value's position for error messages.
//! [`crate::policy`] turns them into a validated [`crate::Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type List = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub issuer: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    pub database: Option<Spanned<String>>,
    pub environments: Option<List>,
    pub tokens: Option<RawTokens>,
    pub gateway: Option<RawGateway>,
    pub trusted_proxies: Option<List>,
    pub log_format: Option<Spanned<String>>,
    pub database_password_file: Option<Spanned<String>>,
    pub limits: Option<RawLimits>,
    pub retention: Option<RawRetention>,
    pub sign_in: Option<RawSignIn>,
    #[serde(default, rename = "identity_provider")]
    pub identity_providers: Vec<RawIdentityProvider>,
    #[serde(default, rename = "scope")]
    pub scopes: Vec<RawScope>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
    pub mcp: Option<RawMcp>,
    pub clients: Option<RawClients>,
    /// The same keys as `[[route]]`, with an MCP operation as `match`.
    #[serde(default, rename = "mcp_route")]
    pub mcp_routes: Vec<RawRoute>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClients {
    pub metadata_documents: Option<Spanned<bool>>,
    pub loopback_metadata_documents: Option<Spanned<bool>>,
    pub registration: Option<Spanned<String>>,
    pub scopes: Option<List>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    pub path: Spanned<String>,
    pub resource: Option<Spanned<String>>,
    pub scopes_supported: Option<List>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokens {
    pub format: Option<Spanned<String>>,
    pub algorithm: Option<Spanned<String>>,
    pub access_ttl: Option<Spanned<String>>,
    pub refresh_ttl: Option<Spanned<String>>,
    pub scope_claim: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    pub upstream: Option<Spanned<String>>,
    pub environment: Option<Spanned<String>>,
    pub basic_auth: Option<Spanned<bool>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub response_timeout: Option<Spanned<String>>,
    pub max_header_bytes: Option<Spanned<i64>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub max_path_bytes: Option<Spanned<i64>>,
    pub body_timeout: Option<Spanned<String>>,
    pub body_min_rate: Option<Spanned<i64>>,
    pub max_query_bytes: Option<Spanned<i64>>,
    pub cache_ttl: Option<Spanned<String>>,
    pub upstream_http2: Option<Spanned<bool>>,
    pub windows_upstream: Option<Spanned<bool>>,
    pub resource: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub token_per_client: Option<Spanned<String>>,
    pub token_per_address: Option<Spanned<String>>,
    pub sign_in_per_address: Option<Spanned<String>>,
    pub sign_in_failures: Option<Spanned<String>>,
    pub gateway_failures_per_address: Option<Spanned<String>>,
    pub admin_api_per_token: Option<Spanned<String>>,
    pub registration_per_address: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSignIn {
    pub passwords: Option<Spanned<bool>>,
    pub delegate_to: Option<Spanned<String>>,
    pub permissions_max_age: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentityProvider {
    pub name: Spanned<String>,
    pub label: Option<Spanned<String>>,
    pub issuer: Spanned<String>,
    pub client_id: Spanned<String>,
    /// Refused with a message: secrets never go in the policy file.
    pub client_secret: Option<Spanned<toml::Value>>,
    pub client_secret_env: Option<Spanned<String>>,
    pub client_secret_file: Option<Spanned<String>>,
    pub scopes: Option<List>,
    pub login_claim: Option<Spanned<String>>,
    pub users: Option<Spanned<String>>,
    pub permissions_max_age: Option<Spanned<String>>,
    pub default_permissions: Option<List>,
    #[serde(default)]
    pub permissions: Vec<RawClaimRule>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClaimRule {
    pub claim: Spanned<String>,
    pub value: Spanned<String>,
    pub grant: List,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub audit: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScope {
    pub name: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub levels: Option<List>,
    /// Per-level descriptions for a scope with `levels`; extends docs/policy.md.
    pub level_descriptions: Option<Spanned<BTreeMap<String, String>>>,
    pub implies: Option<List>,
    pub grants: Option<List>,
    pub environments: Option<List>,
    pub requires_permissions: Option<List>,
    pub no_expiry: Option<Spanned<bool>>,
    pub max_lifetime: Option<Spanned<String>>,
    pub requires_approval: Option<Spanned<bool>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    #[serde(rename = "match")]
    pub pattern: Spanned<String>,
    pub require: Option<Spanned<String>>,
    pub any_of: Option<List>,
    pub all_of: Option<List>,
    /// What the route is, for `explain` and the portal; extends docs/policy.md.
    pub description: Option<Spanned<String>>,
}
