//! scopegate's HTTP surface (issues 3 and 4): the OAuth 2.0 endpoints, the
//! gateway, forward-auth, portal, admin API and metrics, on axum.
//!
//! Not built yet; see `scopegate-core` for the engine every endpoint will ask.
