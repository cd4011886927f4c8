//! The admin API, `/admin/api/`: JSON over HTTP for operators and their
//! scripts, doing what the CLI does (apps, key sets and secrets, users and
//! permissions, grants, revocation, the audit trail) plus scope requests and
//! a dry-run decision.
//! Every request is authorized by [`auth`] before any handler runs, so an
//! unknown path answers 404 only to a valid admin token. Changes go through
//! [`crate::manage`], the portal's code path too.
//!
//! The OpenAPI 3.1 document (`/admin/api/openapi.json`) is generated from
//! the handlers' annotations; [`served`] lists what the router serves, and a
//! test holds the two equal.

mod apps;
mod audit;
pub(crate) mod auth;
mod body;
mod decide;
pub(crate) mod error;
mod keys;
mod paging;
mod requests;
mod sign_in;
mod tokens;
mod users;
mod views;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use utoipa::OpenApi;

pub use error::ApiError;

use crate::state::AppState;

/// Where the admin API lives.
pub const PREFIX: &str = crate::http::endpoints::ADMIN_API;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "scopegate admin API",
        description = "Apps, key sets and secrets, users and permissions, grants, token revocation, the audit trail and a dry-run decision. Authenticate with `Authorization: Bearer <token>` from `scopegate admin-token create`: `admin:read` reads (and decides), `admin:write` changes, `admin:sign-in` only reads and answers login challenges (a login app).",
        license(name = "Apache-2.0")
    ),
    paths(
        apps::list, apps::create, apps::show, apps::delete, apps::add_key_set, apps::key_set,
        apps::add_secret, apps::revoke_secret, apps::revoke_tokens,
        users::list, users::create, users::show, users::set_permissions, users::set_enabled,
        users::revoke_tokens, users::revoke_grant, users::sign_out,
        tokens::revoke, tokens::list, tokens::create_admin_token, tokens::revoke_admin_token,
        keys::list, keys::rotate, decide::scopes_for,
        requests::list, requests::create, requests::grant, requests::refuse,
        sign_in::show, sign_in::accept, sign_in::reject,
        audit::list, decide::decide, openapi_json,
    ),
    modifiers(&BearerAuth),
    security(("admin_token" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        // What every operation may answer, before its handler runs.
        let common = [
            (
                "400",
                "a malformed path or request (an ambiguous path, a bad Authorization header)",
            ),
            ("401", "no admin token, or not a live one"),
            (
                "414",
                "the path or the query string is too long (`gateway.max_path_bytes`, `max_query_bytes`)",
            ),
            ("403", "the admin token lacks the scope (changes need admin:write)"),
            ("413", "the request body is larger than 64 KiB"),
            (
                "429",
                "too many requests with this admin token (`limits.admin_api_per_token`); Retry-After says when to try again",
            ),
        ];
        let error = ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete]
                .into_iter()
                .flatten()
            {
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(description)
                                    .content("application/json", error.clone())
                                    .build(),
                            )
                        });
                }
            }
        }
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an admin token (`scopegate admin-token create`)"))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(get, path = "/admin/api/openapi.json", tag = "meta",
    responses((status = 200, description = "this document (OpenAPI 3.1)", content_type = "application/json")))]
async fn openapi_json() -> Response {
    crate::http::error::no_store(axum::Json(openapi()).into_response())
}

/// The routes, built once with the list of what they serve.
struct Routes {
    router: Router<AppState>,
    served: Vec<(Method, &'static str)>,
}

impl Routes {
    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.served.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }
}

fn routes() -> Routes {
    use axum::routing::{delete, get, post, put};
    Routes {
        router: Router::new(),
        served: Vec::new(),
    }
    .add(Method::GET, "/admin/api/apps", get(apps::list))
    .add(Method::POST, "/admin/api/apps", post(apps::create))
    .add(Method::GET, "/admin/api/apps/{app_id}", get(apps::show))
    .add(Method::DELETE, "/admin/api/apps/{app_id}", delete(apps::delete))
    .add(
        Method::POST,
        "/admin/api/apps/{app_id}/key-sets",
        post(apps::add_key_set),
    )
    .add(Method::GET, "/admin/api/key-sets/{client_id}", get(apps::key_set))
    .add(
        Method::POST,
        "/admin/api/key-sets/{client_id}/secrets",
        post(apps::add_secret),
    )
    .add(
        Method::DELETE,
        "/admin/api/key-sets/{client_id}/secrets/{secret_id}",
        delete(apps::revoke_secret),
    )
    .add(
        Method::POST,
        "/admin/api/key-sets/{client_id}/revoke-tokens",
        post(apps::revoke_tokens),
    )
    .add(Method::GET, "/admin/api/users", get(users::list))
    .add(Method::POST, "/admin/api/users", post(users::create))
    .add(Method::GET, "/admin/api/users/{login}", get(users::show))
    .add(
        Method::PUT,
        "/admin/api/users/{login}/permissions",
        put(users::set_permissions),
    )
    .add(Method::PUT, "/admin/api/users/{login}/enabled", put(users::set_enabled))
    .add(
        Method::POST,
        "/admin/api/users/{login}/revoke-tokens",
        post(users::revoke_tokens),
    )
    .add(Method::POST, "/admin/api/users/{login}/sign-out", post(users::sign_out))
    .add(
        Method::DELETE,
        "/admin/api/users/{login}/grants/{client_id}",
        delete(users::revoke_grant),
    )
    .add(Method::GET, "/admin/api/sign-in/{challenge}", get(sign_in::show))
    .add(
        Method::PUT,
        "/admin/api/sign-in/{challenge}/accept",
        put(sign_in::accept),
    )
    .add(
        Method::PUT,
        "/admin/api/sign-in/{challenge}/reject",
        put(sign_in::reject),
    )
    .add(Method::GET, "/admin/api/scope-requests", get(requests::list))
    .add(
        Method::POST,
        "/admin/api/key-sets/{client_id}/scope-requests",
        post(requests::create),
    )
    .add(
        Method::POST,
        "/admin/api/scope-requests/{id}/grant",
        post(requests::grant),
    )
    .add(
        Method::POST,
        "/admin/api/scope-requests/{id}/refuse",
        post(requests::refuse),
    )
    .add(Method::POST, "/admin/api/tokens/revoke", post(tokens::revoke))
    .add(Method::GET, "/admin/api/admin-tokens", get(tokens::list))
    .add(
        Method::POST,
        "/admin/api/admin-tokens",
        post(tokens::create_admin_token),
    )
    .add(Method::GET, "/admin/api/signing-keys", get(keys::list))
    .add(Method::POST, "/admin/api/signing-keys/rotate", post(keys::rotate))
    .add(Method::POST, "/admin/api/scopes-for", post(decide::scopes_for))
    .add(
        Method::DELETE,
        "/admin/api/admin-tokens/{id}",
        delete(tokens::revoke_admin_token),
    )
    .add(Method::GET, "/admin/api/audit", get(audit::list))
    .add(Method::POST, "/admin/api/decide", post(decide::decide))
    .add(Method::GET, "/admin/api/openapi.json", get(openapi_json))
}

/// Every (method, path template) the admin router serves.
pub fn served() -> Vec<(Method, &'static str)> {
    routes().served
}

/// The admin API's routes, each behind the admin token check. A path under
/// `/admin/api/` that is not served answers 404 (a served path with another
/// method, 405), in the API's error shape, after the same check.
pub fn router(state: AppState) -> Router<AppState> {
    let fallback = on(
        MethodFilter::GET
            .or(MethodFilter::POST)
            .or(MethodFilter::PUT)
            .or(MethodFilter::DELETE)
            .or(MethodFilter::PATCH)
            .or(MethodFilter::HEAD)
            .or(MethodFilter::OPTIONS),
        not_found,
    );
    routes()
        .router
        .route("/admin/api/{*rest}", fallback.clone())
        .route("/admin/api/", fallback.clone())
        .route("/admin/api", fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(state, auth::authorize))
        .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
        .layer(axum::middleware::map_response(too_large_in_json))
}

/// A body over the limit, refused by axum's extractor before any handler
/// runs, answers in the API's error shape like every other refusal.
async fn too_large_in_json(response: axum::response::Response) -> axum::response::Response {
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || json {
        return response;
    }
    axum::response::IntoResponse::into_response(body::too_large())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such admin API endpoint (see /admin/api/openapi.json)")
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not served on this path (see /admin/api/openapi.json)",
            request.method()
        ),
    )
}
