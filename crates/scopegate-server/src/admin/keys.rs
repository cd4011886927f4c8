//! The keys that sign JWT access tokens, as `scopegate keys` shows and
//! rotates them.

use axum::Extension;
use axum::response::{IntoResponse, Response};
use scopegate_store::Store;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::error::ApiError;
use crate::http::error::no_store;
use crate::state::Current;
use scopegate_service::operations::signing_keys;

/// A signing key, never its private part.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct SigningKey {
    pub kid: String,
    #[schema(example = "ES256")]
    pub alg: String,
    pub created_at: i64,
    /// Retired keys sign nothing new; they stay in the JWKS while their tokens live.
    pub retired_at: Option<i64>,
}

/// The key a rotation started.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct Rotated {
    pub kid: String,
    /// When it signs: `next_start` (each node takes it when `serve` starts).
    #[schema(example = "next_start")]
    pub signs_from: String,
}

#[utoipa::path(get, path = "/admin/api/signing-keys", tag = "signing keys",
    responses((status = 200, body = Vec<SigningKey>, description = "newest first")))]
pub(super) async fn list(Current(state): Current) -> Result<Response, ApiError> {
    let keys: Vec<SigningKey> = state
        .store
        .signing_keys()
        .await?
        .into_iter()
        .map(|k| SigningKey {
            kid: k.kid,
            alg: k.alg,
            created_at: k.created_at,
            retired_at: k.retired_at,
        })
        .collect();
    Ok(no_store(axum::Json(keys).into_response()))
}

#[utoipa::path(post, path = "/admin/api/signing-keys/rotate", tag = "signing keys",
    responses((status = 200, body = Rotated)))]
pub(super) async fn rotate(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
) -> Result<Response, ApiError> {
    let kid = signing_keys::rotate(&state.service(&caller.actor()), state.keys.kek()).await?;
    Ok(no_store(
        axum::Json(Rotated {
            kid,
            signs_from: "next_start".into(),
        })
        .into_response(),
    ))
}
