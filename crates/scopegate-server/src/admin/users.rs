//! Users, their permissions, and the grants they made.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_store::Store;
use serde::Deserialize;
use utoipa::ToSchema;

use super::apps::Revoked;
use super::auth::AdminCaller;
use super::body;
use super::error::{ApiError, ErrorBody};
use super::paging::{PageParams, next_link};
use super::views::{Grant, Page, User, UserDetail};
use crate::http::error::no_store;
use crate::state::Current;
use scopegate_service::operations::{grants, sessions, users};

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UserCreate {
    #[schema(example = "ana", pattern = r"^[A-Za-z0-9_.@-]{1,128}$")]
    pub login: String,
    /// At least 8 characters; stored as an Argon2id hash.
    #[schema(min_length = 8)]
    pub password: String,
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl std::fmt::Debug for UserCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCreate")
            .field("login", &self.login)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// A user's permissions, replacing the ones they hold.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct Permissions {
    pub permissions: Vec<String>,
}

/// Whether a user may sign in.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct Enabled {
    pub enabled: bool,
}

fn json(value: impl serde::Serialize) -> Response {
    no_store(axum::Json(value).into_response())
}

#[utoipa::path(get, path = "/admin/api/users", tag = "users", params(PageParams),
    responses((status = 200, body = Page<User>), (status = 400, body = ErrorBody)))]
pub(super) async fn list(Current(state): Current, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params: PageParams = body::query(q.as_deref())?;
    let limit = params.limit()?;
    let mut users: Vec<User> = state
        .store
        .users_page(params.cursor.as_deref(), limit + 1)
        .await?
        .into_iter()
        .map(|u| User::of(u, &state.policy.settings.sign_in, state.now()))
        .collect();
    let next = if users.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        users.pop();
        users
            .last()
            .map(|u| next_link("/admin/api/users", &[], &u.login, limit))
    } else {
        None
    };
    Ok(json(Page { items: users, next }))
}

#[utoipa::path(post, path = "/admin/api/users", tag = "users", request_body = UserCreate,
    responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(super) async fn create(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: UserCreate = body::json(&headers, &bytes)?;
    let user = users::create(
        &state.service(&caller.actor()),
        &input.login,
        &input.password,
        &input.permissions,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        json(User::of(user, &state.policy.settings.sign_in, state.now())),
    )
        .into_response())
}

#[utoipa::path(get, path = "/admin/api/users/{login}", tag = "users", params(("login" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = UserDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn show(Current(state): Current, Path(login): Path<String>) -> Result<Response, ApiError> {
    let user = users::get(&state.store, &login).await?;
    let grants = state
        .store
        .consents(&login)
        .await?
        .into_iter()
        .map(Grant::from)
        .collect();
    Ok(json(UserDetail {
        user: User::of(user, &state.policy.settings.sign_in, state.now()),
        grants,
    }))
}

#[utoipa::path(put, path = "/admin/api/users/{login}/permissions", tag = "users", params(("login" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    request_body = Permissions,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(super) async fn set_permissions(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(login): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: Permissions = body::json(&headers, &bytes)?;
    let user = users::set_permissions(&state.service(&caller.actor()), &login, &input.permissions).await?;
    Ok(json(User::of(user, &state.policy.settings.sign_in, state.now())))
}

#[utoipa::path(put, path = "/admin/api/users/{login}/enabled", tag = "users", params(("login" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    request_body = Enabled,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(super) async fn set_enabled(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(login): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: Enabled = body::json(&headers, &bytes)?;
    let user = users::set_enabled(&state.service(&caller.actor()), &login, input.enabled).await?;
    Ok(json(User::of(user, &state.policy.settings.sign_in, state.now())))
}

#[utoipa::path(post, path = "/admin/api/users/{login}/revoke-tokens", tag = "tokens", params(("login" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = Revoked, description = "every token of the user, in every app, is revoked"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_tokens(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    let revoked = users::revoke_tokens(&state.service(&caller.actor()), &login).await?;
    Ok(json(Revoked { revoked }))
}

#[utoipa::path(delete, path = "/admin/api/users/{login}/grants/{client_id}", tag = "tokens",
    params(("login" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$"), ("client_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = Revoked, description = "the consent is withdrawn and every token of the user's grants to the key set is revoked"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_grant(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path((login, client_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let revoked = grants::revoke(&state.service(&caller.actor()), &login, &client_id).await?;
    Ok(json(Revoked { revoked }))
}

/// How many sessions a sign-out ended.
#[derive(serde::Serialize, ToSchema, Debug)]
pub(super) struct SessionsEnded {
    pub sessions_ended: u64,
}

#[utoipa::path(post, path = "/admin/api/users/{login}/sign-out", tag = "users", params(("login" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = SessionsEnded, description = "every session of the user (portal and consent pages, on every device) is ended"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn sign_out(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(login): Path<String>,
) -> Result<Response, ApiError> {
    let sessions_ended = sessions::end_all(&state.service(&caller.actor()), &login).await?;
    Ok(json(SessionsEnded { sessions_ended }))
}
