//! Revoking a token by its value, and the admin API's own tokens.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::body;
use super::error::{ApiError, ErrorBody};
use super::views::AdminToken;
use crate::http::error::no_store;
use crate::state::Current;
use scopegate_service::operations::{admin_tokens, tokens};

/// A token to revoke, by value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenRevoke {
    /// An access token (opaque or JWT) or a refresh token; a refresh token takes its whole grant.
    pub token: String,
}

impl std::fmt::Debug for TokenRevoke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRevoke").finish_non_exhaustive()
    }
}

/// What a token's revocation took with it.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct TokenRevoked {
    pub client_id: String,
    /// `access` or `refresh`.
    pub kind: String,
    pub revoked: u64,
}

#[utoipa::path(post, path = "/admin/api/tokens/revoke", tag = "tokens", request_body = TokenRevoke,
    responses((status = 200, body = TokenRevoked), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(super) async fn revoke(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: TokenRevoke = body::json(&headers, &bytes)?;
    let r = tokens::revoke(&state.service(&caller.actor()), Some(&state.keys), &input.token, None).await?;
    Ok(no_store(
        axum::Json(TokenRevoked {
            client_id: r.client_id,
            kind: r.kind.to_owned(),
            revoked: r.revoked,
        })
        .into_response(),
    ))
}

#[utoipa::path(get, path = "/admin/api/admin-tokens", tag = "admin tokens",
    responses((status = 200, body = Vec<AdminToken>)))]
pub(super) async fn list(Current(state): Current) -> Result<Response, ApiError> {
    let tokens: Vec<AdminToken> = state
        .store
        .admin_tokens()
        .await?
        .into_iter()
        .map(|t| AdminToken {
            id: t.id,
            scopes: t.scopes,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        })
        .collect();
    Ok(no_store(axum::Json(tokens).into_response()))
}

#[utoipa::path(delete, path = "/admin/api/admin-tokens/{id}", tag = "admin tokens", params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 204, description = "the token stops working at once"), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_admin_token(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_tokens::revoke(&state.service(&caller.actor()), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new admin token's scopes.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminTokenCreate {
    /// `admin:read` and/or `admin:write` (which implies read).
    #[schema(example = json!(["admin:read"]))]
    pub scopes: Vec<String>,
}

/// An admin token, shown this once.
#[derive(Serialize, ToSchema)]
pub(super) struct AdminTokenCreated {
    pub id: String,
    pub scopes: Vec<String>,
    /// Store it now: only its hash is kept.
    pub token: String,
}

impl std::fmt::Debug for AdminTokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTokenCreated")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[utoipa::path(post, path = "/admin/api/admin-tokens", tag = "admin tokens", request_body = AdminTokenCreate,
    responses((status = 201, body = AdminTokenCreated), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn create_admin_token(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: AdminTokenCreate = body::json(&headers, &bytes)?;
    let (token, record) = admin_tokens::create(&state.service(&caller.actor()), &input.scopes).await?;
    let created = AdminTokenCreated {
        id: record.id,
        scopes: record.scopes,
        token,
    };
    Ok((StatusCode::CREATED, no_store(axum::Json(created).into_response())).into_response())
}
