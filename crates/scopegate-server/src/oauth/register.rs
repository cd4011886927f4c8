//! `/oauth2/register`: RFC 7591 dynamic client registration, open only when
//! `[clients] registration = "open"` (docs/mcp.md). Anyone may register, so
//! what they get is small: a public client (PKCE with S256) with the
//! redirect URIs it gave, assigned `[clients] scopes` only, rate limited per
//! address, and removed by the purge if no user consents to it within a day.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_core::client_metadata::read_metadata;
use scopegate_service::operations::apps;
use scopegate_service::{Actor, ServiceError};

use crate::http::address::ClientAddress;
use crate::http::error::{Internal, no_store};
use crate::http::limits::address_key;
use crate::state::AppState;

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(serde_json::json!({"error": error, "error_description": description})),
        )
            .into_response(),
    )
}

pub(crate) async fn register(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let policy = &state.policy;
    if !policy.settings.clients.registration {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "dynamic client registration is off here ([clients] registration)",
        );
    }
    if let Err(retry) = state.limits.registration_per_address.take(&address_key(address.0)) {
        return crate::http::limits::too_many(retry, "error_description", "too many registrations from this address");
    }
    if !crate::http::form::has_content_type(&headers, "application/json") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "send the client metadata as JSON (Content-Type: application/json)",
        );
    }
    let metadata = match read_metadata(&body, None) {
        Ok(m) => m,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.code, &e.description),
    };
    let from = address
        .0
        .map_or_else(|| "an unknown address".to_owned(), |a| format!("address {a}"));
    let actor = Actor::UnregisteredClient(from);
    let record = match apps::register_client(&state.service(&actor), &metadata, None).await {
        Ok(record) => record,
        Err(ServiceError::Invalid(e)) => {
            let code = if e.field == "redirect_uris" {
                "invalid_redirect_uri"
            } else {
                "invalid_client_metadata"
            };
            return refuse(StatusCode::BAD_REQUEST, code, &e.to_string());
        }
        Err(ServiceError::Internal) => return Internal.into_response(),
        Err(other) => return refuse(StatusCode::BAD_REQUEST, "invalid_client_metadata", &other.to_string()),
    };
    no_store(
        (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "client_id": record.client_id,
                "client_id_issued_at": record.created_at,
                "client_name": record.app_name,
                "redirect_uris": record.redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": record.scopes.join(" "),
            })),
        )
            .into_response(),
    )
}
