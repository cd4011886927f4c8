//! Scope requests: developers ask for scopes the policy reserves to
//! administrators (`requires_approval`); an administrator grants or refuses.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_core::registration::FieldError;
use scopegate_store::{ScopeRequestRecord, Store};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::AdminCaller;
use super::body;
use super::error::{ApiError, ErrorBody};
use crate::http::error::no_store;
use crate::state::Current;
use scopegate_service::operations::scope_requests;
use scopegate_service::operations::scope_requests::Requested;

/// A request for scopes on one key set.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct ScopeRequest {
    #[schema(example = "sgsr_…")]
    pub id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub requested_by: String,
    pub reason: String,
    pub created_at: i64,
    /// `pending`, `granted` or `refused`.
    pub status: String,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
}

impl From<ScopeRequestRecord> for ScopeRequest {
    fn from(r: ScopeRequestRecord) -> Self {
        Self {
            status: r.outcome.clone().unwrap_or_else(|| "pending".into()),
            id: r.id,
            client_id: r.client_id,
            scopes: r.scopes,
            requested_by: r.requested_by,
            reason: r.reason,
            created_at: r.created_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
        }
    }
}

#[derive(Deserialize, IntoParams, Debug, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct RequestParams {
    /// `pending` (default) or `all`.
    #[param(pattern = "^(pending|all)$")]
    pub status: Option<String>,
    /// Only this key set's requests.
    pub client_id: Option<String>,
}

/// Scopes to ask for on a key set.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestCreate {
    pub scopes: Vec<String>,
    /// Why the app needs them, for the administrator who decides.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub reason: String,
}

fn json(value: impl Serialize) -> Response {
    no_store(axum::Json(value).into_response())
}

#[utoipa::path(get, path = "/admin/api/scope-requests", tag = "scope requests", params(RequestParams),
    responses((status = 200, body = Vec<ScopeRequest>)))]
pub(super) async fn list(Current(state): Current, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params: RequestParams = body::query(q.as_deref())?;
    let pending_only = match params.status.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::field(FieldError::new(
                "status",
                format!("{other:?}: use pending or all"),
            )));
        }
    };
    let requests = state
        .store
        .scope_requests(pending_only, params.client_id.as_deref())
        .await?;
    Ok(json(requests.into_iter().map(ScopeRequest::from).collect::<Vec<_>>()))
}

#[utoipa::path(post, path = "/admin/api/key-sets/{client_id}/scope-requests", tag = "scope requests",
    params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")), request_body = RequestCreate,
    responses((status = 201, body = ScopeRequest, description = "filed; `granted` at once when no scope needs approval"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn create(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: RequestCreate = body::json(&headers, &bytes)?;
    if let Some(bad) = input
        .scopes
        .iter()
        .find(|s| s.is_empty() || s.contains(|c: char| c == ',' || c.is_whitespace()))
    {
        return Err(ApiError::field(FieldError::new(
            "scopes",
            format!("{bad:?}: one scope name per element"),
        )));
    }
    let actor = caller.actor();
    let by = actor.to_string();
    let filed = scope_requests::file(
        &state.service(&actor),
        &by,
        &client_id,
        &input.scopes.join(" "),
        &input.reason,
    )
    .await?;
    let request = match filed {
        Requested::Assigned(r) | Requested::Pending(r) => r,
    };
    Ok((StatusCode::CREATED, json(ScopeRequest::from(request))).into_response())
}

#[utoipa::path(post, path = "/admin/api/scope-requests/{id}/grant", tag = "scope requests",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = ScopeRequest, description = "granted: the scopes are now assigned to the key set"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn grant(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = scope_requests::decide(&state.service(&caller.actor()), &id, true).await?;
    Ok(json(ScopeRequest::from(r)))
}

#[utoipa::path(post, path = "/admin/api/scope-requests/{id}/refuse", tag = "scope requests",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = ScopeRequest), (status = 404, body = ErrorBody)))]
pub(super) async fn refuse(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = scope_requests::decide(&state.service(&caller.actor()), &id, false).await?;
    Ok(json(ScopeRequest::from(r)))
}
