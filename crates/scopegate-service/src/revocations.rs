//! Revoked JWT access tokens, held in memory so that checking a JWT costs no
//! database round trip. A revocation made by this process is added at once,
//! one made by another process when the change feed brings it (within a
//! second; see [`crate::changes`]). The whole list of revocations still in
//! force is read again every [`REFRESH`], which also drops the expired ones
//! (they are few: a `jti` revocation ends with its token's expiry). Until the
//! first load, callers ask the store.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use scopegate_store::{Store, StoreError};

/// How often the whole list is read again.
pub const REFRESH: Duration = Duration::from_secs(60);

/// Revoked `jti`s and grants, apart, so that a lookup borrows the name.
#[derive(Debug, Default)]
struct Sets {
    jtis: HashSet<String>,
    grants: HashSet<String>,
    /// While a reload reads the store: what was added meanwhile, which the
    /// list it read may lack.
    journal: Option<Vec<String>>,
}

impl Sets {
    /// Files a store id (`jti:<jti>` or `gid:<grant>`).
    fn add(&mut self, id: &str) {
        if let Some(jti) = id.strip_prefix("jti:") {
            self.jtis.insert(jti.to_owned());
        } else if let Some(grant_id) = id.strip_prefix("gid:") {
            self.grants.insert(grant_id.to_owned());
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sets: RwLock<Sets>,
    loaded: AtomicBool,
    /// One reload at a time (each owns the journal while it runs).
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Clone, Debug, Default)]
pub struct Revocations {
    inner: Arc<Inner>,
}

impl Revocations {
    /// Replaces the list with the store's (keeping nothing it does not list:
    /// a local addition is in the store too, since it was written first).
    pub async fn reload<S: Store>(&self, store: &S, now: i64) -> Result<(), StoreError> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        if let Ok(mut current) = self.inner.sets.write() {
            current.journal = Some(Vec::new());
        }
        let listed = store.revocations(now).await;
        let Ok(mut current) = self.inner.sets.write() else {
            return Ok(());
        };
        let journal = current.journal.take().unwrap_or_default();
        let mut sets = Sets::default();
        for id in listed?.iter().chain(&journal) {
            sets.add(id);
        }
        *current = sets;
        self.inner.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Records a revocation this process just wrote to the store (its store id).
    pub fn add(&self, id: &str) {
        if let Ok(mut sets) = self.inner.sets.write() {
            sets.add(id);
            if let Some(journal) = &mut sets.journal {
                journal.push(id.to_owned());
            }
        }
    }

    /// Whether the JWT `jti` of grant `grant_id` is revoked: from memory once
    /// loaded, else from the store.
    pub async fn is_revoked<S: Store>(&self, store: &S, jti: &str, grant_id: &str) -> Result<bool, StoreError> {
        if self.inner.loaded.load(Ordering::Acquire)
            && let Ok(sets) = self.inner.sets.read()
        {
            return Ok(sets.jtis.contains(jti) || sets.grants.contains(grant_id));
        }
        store.is_revoked(jti, grant_id).await
    }

    /// Reloads every [`REFRESH`] until the process ends.
    pub fn spawn_refresh<S: Store>(&self, store: S, clock: crate::Clock) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.reload(&store, clock()).await {
                    tracing::warn!(error = %e, "cannot reload the revocation list; JWTs are checked against the last one");
                }
                tokio::time::sleep(REFRESH).await;
            }
        });
    }
}
