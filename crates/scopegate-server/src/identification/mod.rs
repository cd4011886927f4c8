//! Who is calling: credentials (bearer tokens, Basic client credentials)
//! verified against the store through the record caches, and the caches of
//! what was verified.

pub(crate) mod identity;
