//! The OAuth 2.0 endpoints.

pub mod authorize;
pub(crate) mod client_auth;
pub mod introspect;
pub mod metadata;
mod mint;
pub mod revoke;
pub mod token;
