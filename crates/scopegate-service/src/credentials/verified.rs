//! Verified JWT access tokens, remembered by their SHA-256 so that a token
//! presented again skips the signature check. What a verification proves
//! (signature, issuer, audience) cannot change; time can, so `exp` and `nbf`
//! are checked against `now` on every read. Revocation is not cached here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::credentials::keys::{AccessClaims, Keys};
use crate::credentials::secrets;

/// Past this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

type Entries = HashMap<Vec<u8>, Arc<AccessClaims>>;

#[derive(Clone, Debug, Default)]
pub struct VerifiedTokens {
    entries: Arc<RwLock<Entries>>,
}

impl VerifiedTokens {
    /// The claims of `token` if it is one of ours and valid at `now`.
    pub fn verify(
        &self,
        keys: &Keys,
        token: &str,
        issuer: &str,
        audiences: &[&str],
        now: i64,
    ) -> Option<Arc<AccessClaims>> {
        let key = secrets::hash(token);
        let cached = self.entries.read().ok().and_then(|e| e.get(&key).cloned());
        let claims = match cached {
            Some(c) => c,
            None => {
                let c = Arc::new(keys.verify_for(token, issuer, audiences, now)?);
                if let Ok(mut entries) = self.entries.write() {
                    if entries.len() >= MAX_ENTRIES {
                        entries.clear();
                    }
                    entries.insert(key, Arc::clone(&c));
                }
                c
            }
        };
        (claims.nbf <= now && now < claims.exp).then_some(claims)
    }
}
