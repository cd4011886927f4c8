//! scopegate's own paths, defined once: the router and the RFC 8414 metadata
//! document both read them.

pub(crate) const METADATA: &str = "/.well-known/oauth-authorization-server";
/// RFC 9728 protected resource metadata, followed by the resource's path
/// (the MCP endpoint's, docs/mcp.md).
pub(crate) const RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource";
pub(crate) const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/{*resource}";
pub(crate) const AUTHORIZE: &str = "/oauth2/authorize";
pub(crate) const TOKEN: &str = "/oauth2/token";
pub(crate) const INTROSPECT: &str = "/oauth2/introspect";
pub(crate) const REVOKE: &str = "/oauth2/revoke";
/// RFC 7591 dynamic client registration, when `[clients] registration = "open"`.
pub(crate) const REGISTER: &str = "/oauth2/register";
pub(crate) const JWKS: &str = "/oauth2/jwks";
/// Signing in through an upstream OpenID Connect provider (docs/users.md).
pub(crate) const IDP_START: &str = "/oauth2/idp/{name}/start";
pub(crate) const IDP_CALLBACK: &str = "/oauth2/idp/{name}/callback";
pub(crate) const HEALTHZ: &str = "/healthz";
pub(crate) const READYZ: &str = "/readyz";
pub(crate) const AUTHZ: &str = "/authz";
pub(crate) const AUTHZ_PATH: &str = "/authz/{*original}";
pub(crate) const METRICS: &str = "/metrics";
/// The developer portal: this path and everything under it.
pub(crate) const PORTAL: &str = "/portal";
/// The admin API: this path and everything under it.
pub(crate) const ADMIN_API: &str = "/admin/api";

/// Whether the router serves `path` itself (the gateway takes the rest).
pub(crate) fn is_own(path: &str) -> bool {
    matches!(
        path,
        METADATA | AUTHORIZE | TOKEN | INTROSPECT | REVOKE | REGISTER | JWKS | HEALTHZ | READYZ | AUTHZ | METRICS
    ) || path.starts_with("/authz/")
        || path.starts_with("/.well-known/oauth-protected-resource/")
        || [ADMIN_API, PORTAL].iter().any(|own| {
            path.strip_prefix(own)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// Whether `path` is the forward-auth endpoint, as the router routes it.
pub(crate) fn is_authz(path: &str) -> bool {
    path == AUTHZ || path.strip_prefix("/authz/").is_some_and(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_the_router_serves_is_own_and_nothing_else_is() {
        for path in [
            METADATA, AUTHORIZE, TOKEN, INTROSPECT, REVOKE, REGISTER, JWKS, HEALTHZ, READYZ, AUTHZ, METRICS,
        ] {
            assert!(is_own(path), "{path}");
        }
        assert!(is_own("/authz/account/x"));
        assert!(is_own("/.well-known/oauth-protected-resource/mcp"));
        assert!(is_own("/admin/api") && is_own("/admin/api/apps") && !is_own("/admin/apix"));
        assert!(is_own("/portal") && is_own("/portal/apps/x") && !is_own("/portals"));
        assert!(is_authz(AUTHZ) && is_authz("/authz/account/x") && !is_authz("/authz/") && !is_authz("/authzx"));
        for path in [
            "/",
            "/account",
            "/healthz/",
            "/oauth2",
            "/authzx",
            "/metrics/x",
            "/%68ealthz",
        ] {
            assert!(!is_own(path), "{path}");
        }
    }
}
