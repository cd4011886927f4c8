//! What runs beside the requests: following the store's change feed (caches,
//! policy, keys, revocations kept true across nodes) and purging expired
//! records.

pub mod changes;
pub mod retention;
