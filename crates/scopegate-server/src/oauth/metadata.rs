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
    Json(json!({
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
    }))
}
