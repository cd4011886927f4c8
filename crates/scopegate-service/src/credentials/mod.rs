//! What proves who someone is, and how scopegate keeps it: random secrets
//! and their hashes, passwords, the keys that sign JWTs, sealing at rest, and
//! the cache of JWTs already verified.

pub mod keys;
pub mod passwords;
pub mod sealing;
pub mod secrets;
pub mod verified;
