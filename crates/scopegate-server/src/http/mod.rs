//! What every endpoint family shares about HTTP: where a request comes from,
//! scopegate's own endpoint paths, forms, pages and errors, header fields,
//! request limits and slow bodies, worker threads, and what is counted and
//! traced.

pub mod address;
pub mod endpoints;
pub mod error;
pub mod fields;
pub(crate) mod form;
pub mod hop_by_hop;
pub mod limits;
pub mod metrics;
pub(crate) mod pages;
pub mod slow_body;
pub mod traces;
pub mod worker;
