//! scopegate's HTTP surface on axum: today the OAuth 2.0 token, introspection
//! and revocation endpoints, RFC 8414 metadata and `/healthz`. The authorize
//! endpoint, gateway, forward-auth, portal and admin API build on this router.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use scopegate_core::Policy;
//! use scopegate_server::{AppState, router, state::system_clock};
//! use scopegate_store::{SqliteStore, Store};
//!
//! let policy = Arc::new(Policy::compile("p.toml", "").unwrap());
//! let store = SqliteStore::connect("sqlite://scopegate.db").await.unwrap();
//! store.migrate().await.unwrap();
//! let keys = Arc::new(scopegate_server::keys::Keys::load_or_create(&store, 0).await.unwrap());
//! let app = router(AppState::new(policy, store, system_clock(), keys));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod client_auth;
mod client_cache;
pub mod error;
mod form;
pub mod keys;
pub mod oauth;
mod pages;
pub mod passwords;
pub mod paths;
pub mod secrets;
pub mod state;
pub mod verified;
pub mod writer;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use scopegate_store::Store;

pub use state::AppState;

/// Every scopegate endpoint, on one router.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    Router::new()
        .route(paths::METADATA, get(oauth::metadata::metadata::<S>))
        .route(
            paths::AUTHORIZE,
            get(oauth::authorize::authorize_get::<S>).post(oauth::authorize::authorize_post::<S>),
        )
        .route(paths::TOKEN, post(oauth::token::token::<S>))
        .route(paths::INTROSPECT, post(oauth::introspect::introspect::<S>))
        .route(paths::REVOKE, post(oauth::revoke::revoke::<S>))
        .route(paths::JWKS, get(jwks::<S>))
        .route(paths::HEALTHZ, get(|| async { "ok\n" }))
        .fallback(not_found)
        .with_state(state)
}

/// `/oauth2/jwks`: the public keys of every signing key (RFC 7517).
async fn jwks<S: Store>(axum::extract::State(state): axum::extract::State<AppState<S>>) -> impl IntoResponse {
    axum::Json(state.keys.jwks().clone())
}

/// Until the gateway lands (issue 4), other paths are simply not found.
async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
}
