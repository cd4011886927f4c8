//! "Last used" for client secrets: recorded when a secret authenticates, at
//! most once per [`SECRET_USE_GRANULARITY`] per secret and node, off the
//! request's path (a write the answer never waits for).

use std::collections::HashMap;
use std::sync::Mutex;

use scopegate_store::{Database, SECRET_USE_GRANULARITY, Store};

/// Past this many secrets, the node forgets when it last wrote each and
/// starts over (bounded memory; the cost is one write more per secret).
const MAX_TRACKED: usize = 50_000;

/// When this node last recorded each secret's use.
#[derive(Debug, Default)]
pub struct SecretUses(Mutex<HashMap<String, i64>>);

impl SecretUses {
    /// Notes that `secret_id` authenticated at `now`; writes it to `store`
    /// in the background when the last write is older than the granularity.
    pub fn note(&self, store: &Database, secret_id: &str, now: i64) {
        {
            let Ok(mut written) = self.0.lock() else {
                return;
            };
            if written
                .get(secret_id)
                .is_some_and(|at| now < at.saturating_add(SECRET_USE_GRANULARITY))
            {
                return;
            }
            if written.len() >= MAX_TRACKED {
                written.clear();
            }
            written.insert(secret_id.to_owned(), now);
        }
        let (store, id) = (store.clone(), secret_id.to_owned());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.note_secret_used(&id, now).await {
                    tracing::warn!(error = %e, "a client secret's last use was not recorded");
                }
            });
        }
    }
}
