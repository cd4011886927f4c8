//! RFC 8414 authorization server metadata, built from the same path constants
//! the router uses. It advertises only what is implemented.

use axum::Json;
use serde_json::{Value, json};

use crate::http::endpoints;
use crate::state::Current;

pub(crate) async fn metadata(Current(state): Current) -> Json<Value> {
    let issuer = state.policy.settings.issuer.trim_end_matches('/');
    let scopes: Vec<&str> = state.policy.catalog.iter().map(|(_, s)| s.name.as_str()).collect();
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let clients = &state.policy.settings.clients;
    let mut document = json!({
        "issuer": state.policy.settings.issuer,
        "authorization_endpoint": format!("{issuer}{}", endpoints::AUTHORIZE),
        "token_endpoint": format!("{issuer}{}", endpoints::TOKEN),
        "introspection_endpoint": format!("{issuer}{}", endpoints::INTROSPECT),
        "revocation_endpoint": format!("{issuer}{}", endpoints::REVOKE),
        "jwks_uri": format!("{issuer}{}", endpoints::JWKS),
        "scopes_supported": scopes,
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    });
    if clients.metadata_documents {
        document["client_id_metadata_document_supported"] = json!(true);
    }
    if clients.registration {
        document["registration_endpoint"] = json!(format!("{issuer}{}", endpoints::REGISTER));
    }
    Json(document)
}

/// RFC 9728 protected resource metadata for the MCP endpoint, at
/// `/.well-known/oauth-protected-resource<mcp.path>`: where an MCP client
/// learns which authorization server issues tokens for it, and for which scopes.
pub(crate) async fn resource_metadata(Current(state): Current, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let policy = &state.policy;
    let resource_path = uri
        .path()
        .strip_prefix(endpoints::RESOURCE_METADATA)
        .unwrap_or_default();
    let Some(mcp) = policy.settings.mcp.as_ref().filter(|m| m.path == resource_path) else {
        return crate::upstream::error(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "no protected resource is described at this path",
        );
    };
    let scopes: Vec<&str> = policy.catalog.names(&mcp.scopes_supported).collect();
    (
        [(axum::http::header::CACHE_CONTROL, "max-age=60")],
        Json(json!({
            "resource": mcp.resource,
            "authorization_servers": [policy.settings.issuer],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
        })),
    )
        .into_response()
}
