//! A short-lived in-memory cache of client records, so that authenticating a
//! client costs no database read on the hot path. Entries live `TTL`: a secret
//! rotated or an app deleted by `scopegate app …` (another process) takes
//! effect within that time on every node.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use scopegate_store::{ClientRecord, Store, StoreError};

pub const TTL: Duration = Duration::from_secs(5);
/// Past this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 50_000;

type Entries = HashMap<String, (Arc<ClientRecord>, Instant)>;

#[derive(Clone, Debug, Default)]
pub struct ClientCache {
    entries: Arc<RwLock<Entries>>,
}

impl ClientCache {
    pub async fn get<S: Store>(&self, store: &S, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        if let Ok(entries) = self.entries.read() {
            if let Some((client, at)) = entries.get(client_id) {
                if at.elapsed() < TTL {
                    return Ok(Some(Arc::clone(client)));
                }
            }
        }
        let Some(client) = store.client(client_id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(client_id.to_owned(), (Arc::clone(&client), Instant::now()));
        }
        Ok(Some(client))
    }
}
