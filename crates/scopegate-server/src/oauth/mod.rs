//! The OAuth 2.0 endpoints.

pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;
