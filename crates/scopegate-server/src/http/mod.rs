//! What every endpoint family shares about HTTP: where a request comes from,
//! scopegate's own endpoint paths, forms, pages and errors, header fields,
//! request limits and slow bodies, and what is counted and traced.

pub(crate) mod address;
pub(crate) mod endpoints;
pub(crate) mod error;
pub(crate) mod fields;
pub(crate) mod form;
pub(crate) mod hop_by_hop;
pub(crate) mod limits;
pub(crate) mod metrics;
pub(crate) mod pages;
pub(crate) mod slow_body;
pub mod traces;
