//! The OAuth 2.0 endpoints.

pub(crate) mod authorize;
pub(crate) mod client_auth;
pub(crate) mod introspect;
pub(crate) mod metadata;
mod mint;
pub(crate) mod register;
pub(crate) mod revoke;
pub(crate) mod token;
