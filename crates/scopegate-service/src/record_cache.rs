//! Short-lived in-memory caches of client and user records, so that
//! authenticating a client or re-checking a user's permissions costs no
//! database read on the hot path. Entries live [`TTL`] seconds of the state's clock: a secret rotated, an
//! app deleted or a permission withdrawn by `scopegate app …` / `scopegate
//! user …` (another process) takes effect within that time on every node.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use scopegate_store::{KeySetRecord, Store, StoreError, TokenRecord, UserRecord};

/// Seconds an entry is trusted.
pub const TTL: i64 = 5;
/// Seconds an entry still answers while the database cannot be read (a
/// node that cannot read the change feed for this long forgets everything).
pub const STALE_IF_ERROR: i64 = 30 * 60;
/// Past this many entries a cache starts over (bounded memory).
const MAX_ENTRIES: usize = 50_000;

/// Each record with the (clock) time it was read.
type Entries<K, V> = HashMap<K, (Option<Arc<V>>, i64)>;

/// Records by key, absent ones included (so an unknown id costs one read per
/// `TTL`, not one per request).
#[derive(Debug)]
pub struct RecordCache<V, K = String> {
    entries: Arc<RwLock<Entries<K, V>>>,
}

impl<V, K> Clone for RecordCache<V, K> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
        }
    }
}

impl<V, K> Default for RecordCache<V, K> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

impl<V, K: Hash + Eq> RecordCache<V, K> {
    async fn get_or_load<Q, F>(&self, key: &Q, now: i64, load: F) -> Result<Option<Arc<V>>, StoreError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: Future<Output = Result<Option<V>, StoreError>>,
    {
        let mut stale = None;
        if let Ok(entries) = self.entries.read()
            && let Some((record, at)) = entries.get(key)
        {
            if now.saturating_sub(*at) < TTL {
                return Ok(record.clone());
            }
            stale = Some((record.clone(), *at));
        }
        let record = match load.await {
            Ok(record) => record.map(Arc::new),
            // The database does not answer: what was read before still
            // stands, since nothing can change it meanwhile (every change is
            // a write to that database, and the change feed forgets what
            // changes as soon as it reads again).
            Err(e) => {
                return match stale {
                    Some((record, at)) if now.saturating_sub(at) < STALE_IF_ERROR => Ok(record),
                    _ => Err(e),
                };
            }
        };
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key.to_owned(), (record.clone(), now));
        }
        Ok(record)
    }

    /// Forgets everything: this process revoked something.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    /// Forgets one key: this process changed the record.
    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }
}

pub type ClientCache = RecordCache<KeySetRecord>;
pub type UserCache = RecordCache<UserRecord>;
/// Tokens by hash, for introspection: a token revoked, rotated or used by this
/// process is forgotten at once; by another process, seen within [`TTL`].
pub type TokenCache = RecordCache<TokenRecord, Vec<u8>>;

impl RecordCache<KeySetRecord> {
    pub async fn get<S: Store>(
        &self,
        store: &S,
        client_id: &str,
        now: i64,
    ) -> Result<Option<Arc<KeySetRecord>>, StoreError> {
        self.get_or_load(client_id, now, store.key_set(client_id)).await
    }
}

impl RecordCache<UserRecord> {
    pub async fn get<S: Store>(&self, store: &S, login: &str, now: i64) -> Result<Option<Arc<UserRecord>>, StoreError> {
        self.get_or_load(login, now, store.user(login)).await
    }
}

impl RecordCache<TokenRecord, Vec<u8>> {
    pub async fn get<S: Store>(
        &self,
        store: &S,
        hash: &[u8],
        now: i64,
    ) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        self.get_or_load(hash, now, store.token(hash)).await
    }

    pub fn forget_hash(&self, hash: &[u8]) {
        self.forget(hash);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn down() -> StoreError {
        StoreError::from(sqlx::Error::PoolTimedOut)
    }

    #[tokio::test]
    async fn a_record_read_before_answers_while_the_database_does_not_within_a_bound() {
        let cache: RecordCache<String> = RecordCache::default();
        let read = cache
            .get_or_load("k", 0, async { Ok(Some("v".to_owned())) })
            .await
            .unwrap();
        assert_eq!(read.as_deref().map(String::as_str), Some("v"));
        let stale = cache.get_or_load("k", TTL + 1, async { Err(down()) }).await.unwrap();
        assert_eq!(
            stale.as_deref().map(String::as_str),
            Some("v"),
            "served through the outage"
        );
        assert!(
            cache
                .get_or_load("k", STALE_IF_ERROR, async { Err(down()) })
                .await
                .is_err()
        );
        assert!(cache.get_or_load("never-read", 1, async { Err(down()) }).await.is_err());
    }
}
