//! Apps, their key sets and their secrets.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scopegate_core::registration::FieldError;
use scopegate_store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AdminCaller;
use super::body;
use super::error::{ApiError, ErrorBody};
use super::paging::{PageParams, next_link};
use super::views::{App, KeySet, Page};
use crate::state::Current;
use scopegate_service::credentials::secrets::NewSecret;
use scopegate_service::operations::key_sets::KeySetSpec;
use scopegate_service::operations::key_sets::Registered;
use scopegate_service::operations::{apps, client_secrets, key_sets};

/// A new app and its first key set.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct AppCreate {
    /// Shown on consent pages.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The portal user the app belongs to.
    pub owner: Option<String>,
    #[schema(example = "production")]
    pub environment: String,
    /// Scopes assigned to the keys.
    #[schema(example = json!(["account:read", "products:write"]))]
    pub scopes: Vec<String>,
    /// What a token gets when it asks for none (default: every assigned scope).
    pub default_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// No secret; PKCE required.
    #[serde(default)]
    pub public: bool,
    /// May introspect every token of its environment.
    #[serde(default)]
    pub resource_server: bool,
}

impl AppCreate {
    fn key_set(self) -> (String, Option<String>, KeySetCreate) {
        let key_set = KeySetCreate {
            environment: self.environment,
            scopes: self.scopes,
            default_scopes: self.default_scopes,
            redirect_uris: self.redirect_uris,
            public: self.public,
            resource_server: self.resource_server,
        };
        (self.name, self.owner, key_set)
    }
}

/// A key set in one environment.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct KeySetCreate {
    #[schema(example = "production")]
    pub environment: String,
    /// Scopes assigned to the keys.
    #[schema(example = json!(["account:read", "products:write"]))]
    pub scopes: Vec<String>,
    /// What a token gets when it asks for none (default: every assigned scope).
    pub default_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// No secret; PKCE required.
    #[serde(default)]
    pub public: bool,
    /// May introspect every token of its environment.
    #[serde(default)]
    pub resource_server: bool,
}

impl KeySetCreate {
    fn spec(&self) -> Result<KeySetSpec, ApiError> {
        Ok(KeySetSpec {
            environment: self.environment.clone(),
            scopes: names("scopes", &self.scopes)?,
            default_scopes: self
                .default_scopes
                .as_ref()
                .map(|d| names("default_scopes", d))
                .transpose()?,
            redirect_uris: self.redirect_uris.clone(),
            public: self.public,
            resource_server: self.resource_server,
        })
    }
}

/// A list of scope names, one per element.
fn names(field: &'static str, list: &[String]) -> Result<String, ApiError> {
    if let Some(bad) = list
        .iter()
        .find(|s| s.is_empty() || s.contains(|c: char| c == ',' || c.is_whitespace()))
    {
        return Err(ApiError::field(FieldError::new(
            field,
            format!("{bad:?}: one scope name per element"),
        )));
    }
    Ok(list.join(" "))
}

/// A key set just made: its client secret is shown this once.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct KeySetCreated {
    pub key_set: KeySet,
    /// The secret (absent for a public client). Store it now: only its hash is kept.
    pub client_secret: Option<String>,
    pub secret_id: Option<String>,
}

/// An app just made, with its first key set's secret.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct AppCreated {
    pub app: App,
    pub client_id: String,
    /// Shown this once (absent for a public client).
    pub client_secret: Option<String>,
    pub secret_id: Option<String>,
}

/// A new secret for a key set.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretCreate {
    /// The secret stops working after this long (`90d`, `12h`, `30m`); default never.
    #[schema(example = "90d")]
    pub expires_in: Option<String>,
    /// Revoke every other secret of the key set at once (default: keep them, for rotation without downtime).
    #[serde(default)]
    pub replace: bool,
}

/// A secret, shown this once.
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct SecretCreated {
    pub secret_id: String,
    pub client_secret: String,
    pub expires_at: Option<i64>,
}

impl From<NewSecret> for SecretCreated {
    fn from(s: NewSecret) -> Self {
        Self {
            secret_id: s.id,
            client_secret: s.secret,
            expires_at: s.expires_at,
        }
    }
}

/// How many stored tokens a revocation took (a stateless JWT counts once it is presented).
#[derive(Serialize, ToSchema, Debug)]
pub(super) struct Revoked {
    pub revoked: u64,
}

fn created(body: impl Serialize) -> Response {
    (StatusCode::CREATED, no_store(axum::Json(body))).into_response()
}

fn no_store(json: impl IntoResponse) -> Response {
    crate::http::error::no_store(json.into_response())
}

#[utoipa::path(get, path = "/admin/api/apps", tag = "apps", params(PageParams),
    responses((status = 200, body = Page<App>), (status = 400, body = ErrorBody)))]
pub(super) async fn list(Current(state): Current, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params: PageParams = body::query(q.as_deref())?;
    let limit = params.limit()?;
    let mut apps = App::group(
        state.store.apps(params.cursor.as_deref(), limit + 1).await?,
        state.now(),
    );
    let next = if apps.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        apps.pop();
        apps.last().map(|a| next_link("/admin/api/apps", &[], &a.app_id, limit))
    } else {
        None
    };
    Ok(no_store(axum::Json(Page { items: apps, next })))
}

#[utoipa::path(post, path = "/admin/api/apps", tag = "apps", request_body = AppCreate,
    responses((status = 201, body = AppCreated), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn create(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: AppCreate = body::json(&headers, &bytes)?;
    let (name, owner, key_set) = input.key_set();
    let spec = key_set.spec()?;
    let Registered { key_set, secret } =
        apps::create(&state.service(&caller.actor()), &name, owner.as_deref(), &spec).await?;
    let client_id = key_set.client_id.clone();
    let app = App::group(vec![key_set], state.now())
        .pop()
        .ok_or_else(ApiError::internal)?;
    Ok(created(AppCreated {
        app,
        client_id,
        secret_id: secret.as_ref().map(|s| s.id.clone()),
        client_secret: secret.map(|s| s.secret),
    }))
}

#[utoipa::path(get, path = "/admin/api/apps/{app_id}", tag = "apps", params(("app_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = App), (status = 404, body = ErrorBody)))]
pub(super) async fn show(Current(state): Current, Path(app_id): Path<String>) -> Result<Response, ApiError> {
    let app = App::group(state.store.app(&app_id).await?, state.now())
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no app {app_id:?}")))?;
    Ok(no_store(axum::Json(app)))
}

#[utoipa::path(delete, path = "/admin/api/apps/{app_id}", tag = "apps", params(("app_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 204, description = "deleted, with its key sets and their tokens"), (status = 404, body = ErrorBody)))]
pub(super) async fn delete(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    apps::delete(&state.service(&caller.actor()), &app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/api/apps/{app_id}/key-sets", tag = "apps", params(("app_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    request_body = KeySetCreate,
    responses((status = 201, body = KeySetCreated), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn add_key_set(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: KeySetCreate = body::json(&headers, &bytes)?;
    let spec = input.spec()?;
    let Registered { key_set, secret } = key_sets::add(&state.service(&caller.actor()), &app_id, &spec).await?;
    Ok(created(KeySetCreated {
        key_set: KeySet::new(key_set, state.now()),
        secret_id: secret.as_ref().map(|s| s.id.clone()),
        client_secret: secret.map(|s| s.secret),
    }))
}

#[utoipa::path(get, path = "/admin/api/key-sets/{client_id}", tag = "apps", params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = KeySet), (status = 404, body = ErrorBody)))]
pub(super) async fn key_set(Current(state): Current, Path(client_id): Path<String>) -> Result<Response, ApiError> {
    let k = key_sets::get(&state.store, &client_id).await?;
    Ok(no_store(axum::Json(KeySet::new(k, state.now()))))
}

#[utoipa::path(post, path = "/admin/api/key-sets/{client_id}/secrets", tag = "apps", params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    request_body = SecretCreate,
    responses((status = 201, body = SecretCreated), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn add_secret(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let input: SecretCreate = body::json(&headers, &bytes)?;
    let expires_at = client_secrets::expiry("expires_in", input.expires_in.as_deref(), state.now())?;
    let secret = client_secrets::add(&state.service(&caller.actor()), &client_id, expires_at, input.replace).await?;
    Ok(created(SecretCreated::from(secret)))
}

#[utoipa::path(delete, path = "/admin/api/key-sets/{client_id}/secrets/{secret_id}", tag = "apps",
    params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$"), ("secret_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 204, description = "the secret no longer authenticates"), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_secret(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path((client_id, secret_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    client_secrets::revoke(&state.service(&caller.actor()), &client_id, &secret_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/api/key-sets/{client_id}/revoke-tokens", tag = "tokens",
    params(("client_id" = String, Path, pattern = r"^[A-Za-z0-9_.@-]{1,128}$")),
    responses((status = 200, body = Revoked, description = "every token issued to the key set so far is revoked"),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_tokens(
    Current(state): Current,
    Extension(caller): Extension<AdminCaller>,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let revoked = key_sets::revoke_tokens(&state.service(&caller.actor()), &client_id).await?;
    Ok(no_store(axum::Json(Revoked { revoked })))
}
