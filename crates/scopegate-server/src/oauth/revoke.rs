//! `POST /oauth2/revoke` (RFC 7009). A client may revoke its own tokens;
//! revoking a refresh token revokes its whole grant. Unknown or foreign
//! tokens get the same 200, so the endpoint reveals nothing.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_service::operations::tokens;
use scopegate_service::{Actor, ServiceError};

use crate::http::address::ClientAddress;
use crate::http::error::{EndpointError, no_store};
use crate::http::form::Form;
use crate::oauth::client_auth::authenticate;
use crate::state::{AppState, Current};

pub(crate) async fn revoke(
    Current(state): Current,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, address, &headers, &body).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        // Never a 200 for a revocation that did not happen: the client should
        // retry (RFC 7009 section 2.2.1).
        Err(EndpointError::Internal) => no_store(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "1")],
                axum::Json(serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the token could not be revoked just now; try again",
                })),
            )
                .into_response(),
        ),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), EndpointError> {
    let form = Form::parse(headers, body)?;
    let client = authenticate(state, address, headers, &form, true).await?;
    let token = form.require("token")?;
    let actor = Actor::Client(client.client_id.clone());
    let cx = state.service(&actor);
    // RFC 7009 section 2.2: an unknown token, or another client's, is
    // answered as if revoked.
    match tokens::revoke(&cx, Some(&state.keys), token, Some(&client.client_id)).await {
        Ok(_) | Err(ServiceError::NotFound(_)) => Ok(()),
        Err(_) => Err(EndpointError::Internal),
    }
}
