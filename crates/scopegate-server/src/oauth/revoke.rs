//! `POST /oauth2/revoke` (RFC 7009). A client may revoke its own tokens;
//! revoking a refresh token revokes its whole grant. Unknown or foreign
//! tokens get the same 200, so the endpoint reveals nothing.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_service::AuditKind;
use scopegate_store::{Store, TokenKind};

use crate::http::address::ClientAddress;
use crate::http::error::{EndpointError, no_store};
use crate::http::form::Form;
use crate::oauth::client_auth::authenticate;
use crate::state::{AppState, Current};
use scopegate_service::credentials::keys::looks_like_jwt;
use scopegate_service::credentials::secrets;

pub async fn revoke(Current(state): Current, address: ClientAddress, headers: HeaderMap, body: Bytes) -> Response {
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
    if looks_like_jwt(token) {
        // A stateless access token: remember its `jti` until it would expire anyway.
        if let Some(c) = state.keys.verify(token, &state.policy.settings.issuer, state.now()) {
            if c.client_id == client.client_id {
                state.store.revoke_jti(&c.jti, Some(c.exp)).await?;
                state.revoked_jwt(&c.jti);
                state.audit(
                    AuditKind::Revoke,
                    Some(&client.client_id),
                    Some(&c.sub),
                    "access token (jwt)".into(),
                );
            }
        }
        return Ok(());
    }
    let hash = secrets::hash(token);
    let Some(t) = state.store.token(&hash).await? else {
        return Ok(());
    };
    if t.client_id != client.client_id {
        return Ok(());
    }
    match t.kind {
        TokenKind::Refresh => {
            state.store.revoke_grant(&t.grant_id).await?;
            state.revoked_grant(&t.grant_id);
        }
        TokenKind::Access => {
            state.store.revoke_token(&hash).await?;
            state.forget_credentials();
        }
    }
    state.audit(
        AuditKind::Revoke,
        Some(&client.client_id),
        t.subject.as_deref(),
        format!("{} token", t.kind.as_str()),
    );
    Ok(())
}
