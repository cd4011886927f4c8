//! scopegate's HTTP surface on axum: the OAuth 2.0 endpoints (authorize, token,
//! introspection, revocation, JWKS, RFC 8414 metadata), the forward-auth
//! endpoint `/authz`, `/metrics`, `/healthz`, and the gateway on every other
//! path. The portal and admin API build on this router.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use scopegate_core::Policy;
//! use scopegate_server::{AppState, listener, router, state::system_clock};
//! use scopegate_store::{SqliteStore, Store};
//!
//! let policy = Arc::new(Policy::compile("p.toml", "").unwrap());
//! let store = SqliteStore::connect("sqlite://scopegate.db").await.unwrap();
//! store.migrate().await.unwrap();
//! let keys = Arc::new(scopegate_service::credentials::keys::Keys::load_or_create(&store, 0, scopegate_core::SigningAlgorithm::ES256, None).await.unwrap());
//! let state = AppState::new(policy, store, system_clock(), keys);
//! let idle_timeout = state.policy.settings.gateway.idle_timeout;
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // What `scopegate serve` runs on each worker thread: the gateway's fast
//! // path first, then hyper with the router, a deadline for every request
//! // head, and a graceful stop when `stop` completes.
//! let stop = std::future::pending::<()>();
//! listener::serve(tcp, state.clone(), router(state), idle_timeout, stop).await;
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod background;
pub(crate) mod documents;
pub(crate) mod gateway;
pub mod http;
pub(crate) mod idp;
pub mod listener;
pub(crate) mod oauth;
pub(crate) mod portal;
pub(crate) mod session;
pub(crate) mod sign_in;
pub mod state;
pub(crate) mod upstream;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use http::endpoints;
use scopegate_store::Store;

pub use state::AppState;

/// The largest body scopegate's own endpoints read (forms, admin API JSON);
/// larger is a 413.
pub const MAX_OWN_BODY: usize = 64 * 1024;

/// Every scopegate endpoint, on one router.
pub fn router(state: AppState) -> Router {
    // scopegate's own forms and JSON are small; the gateway's bodies have
    // their own limit (`gateway.max_body_bytes`) and are streamed.
    let small = || axum::extract::DefaultBodyLimit::max(MAX_OWN_BODY);
    Router::new()
        .route(endpoints::METADATA, get(oauth::metadata::metadata))
        .route(
            endpoints::RESOURCE_METADATA_PATH,
            get(oauth::metadata::resource_metadata),
        )
        .route(
            endpoints::AUTHORIZE,
            get(oauth::authorize::authorize_get)
                .post(oauth::authorize::authorize_post)
                .layer(small()),
        )
        .route(endpoints::TOKEN, post(oauth::token::token).layer(small()))
        .route(
            endpoints::INTROSPECT,
            post(oauth::introspect::introspect).layer(small()),
        )
        .route(endpoints::REVOKE, post(oauth::revoke::revoke).layer(small()))
        .route(endpoints::REGISTER, post(oauth::register::register).layer(small()))
        .route(endpoints::JWKS, get(jwks))
        .route(endpoints::IDP_START, post(sign_in::upstream::start).layer(small()))
        .route(endpoints::IDP_CALLBACK, get(sign_in::upstream::callback))
        .route(
            sign_in::delegation::START,
            post(sign_in::delegation::start).layer(small()),
        )
        .route(sign_in::delegation::CONTINUE, get(sign_in::delegation::resume))
        .route(endpoints::HEALTHZ, get(|| async { "ok\n" }))
        .route(endpoints::READYZ, get(readyz))
        .route(endpoints::METRICS, get(metrics))
        .route(endpoints::AUTHZ, any(gateway::forward_auth::forward_auth))
        .route(endpoints::AUTHZ_PATH, any(gateway::forward_auth::forward_auth))
        .merge(admin::router(state.clone()))
        .merge(portal::router().layer(small()))
        .fallback(gateway::gateway)
        .with_state(state)
}

/// `/oauth2/jwks`: the public keys of every signing key (RFC 7517).
async fn jwks(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    axum::Json(state.keys.jwks())
}

/// `/readyz`: whether this node can serve: its policy is loaded (it always
/// is once it listens) and its database answers within [`READY_WITHIN`]. A
/// load balancer sends nothing to a node that says 503; `/healthz` stays a
/// liveness check, which a database outage does not fail.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::http::StatusCode;
    let policy = state.live.load().policy.file.clone();
    // One round trip that also says where the schema stands: a node of an
    // older build keeps serving a database a newer one migrated (migrations
    // only add), and shows it here.
    let database = match tokio::time::timeout(READY_WITHIN, state.store.schema_version()).await {
        Ok(Ok(schema)) => Ok(schema),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", READY_WITHIN.as_secs())),
    };
    let this_build = state.store.backend().schema_version();
    let version = env!("CARGO_PKG_VERSION");
    let (status, body) = match database {
        Ok(schema) => (
            StatusCode::OK,
            serde_json::json!({
                "ready": true,
                "policy": policy,
                "database": "ok",
                "version": version,
                "schema": {"database": schema, "this_build": this_build},
            }),
        ),
        Err(why) => {
            tracing::warn!(error = %why, "not ready: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({
                    "ready": false,
                    "policy": policy,
                    "database": "unreachable",
                    "version": version,
                    "schema": {"database": null, "this_build": this_build},
                }),
            )
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// How long `/readyz` waits for the database.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `/metrics`: Prometheus text format.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.live.load().metrics.render() + &state.feed.render(),
    )
}
