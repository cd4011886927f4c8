//! What every handler shares: the compiled policy, the store, the clock, the
//! signing keys, the batching writer and the client cache. No globals.

use std::sync::Arc;

use scopegate_core::Policy;
use scopegate_store::{AuditEvent, Store};

use crate::client_cache::ClientCache;
use crate::keys::Keys;
use crate::verified::VerifiedTokens;
use crate::writer::Writer;

/// Unix seconds; a parameter so that tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

pub struct AppState<S: Store> {
    pub policy: Arc<Policy>,
    pub store: S,
    pub clock: Clock,
    pub keys: Arc<Keys>,
    pub writer: Writer,
    pub clients: ClientCache,
    pub verified: VerifiedTokens,
}

impl<S: Store> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("policy", &self.policy.file)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            policy: Arc::clone(&self.policy),
            store: self.store.clone(),
            clock: Arc::clone(&self.clock),
            keys: Arc::clone(&self.keys),
            writer: self.writer.clone(),
            clients: self.clients.clone(),
            verified: self.verified.clone(),
        }
    }
}

impl<S: Store> AppState<S> {
    /// Builds the state and starts the writer tasks (needs a Tokio runtime).
    pub fn new(policy: Arc<Policy>, store: S, clock: Clock, keys: Arc<Keys>) -> Self {
        let writer = Writer::start(store.clone());
        Self {
            policy,
            store,
            clock,
            keys,
            writer,
            clients: ClientCache::default(),
            verified: VerifiedTokens::default(),
        }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Records an audit event off the request path (batched by the writer).
    pub fn audit(&self, event: &str, client_id: Option<&str>, subject: Option<&str>, detail: String) {
        self.writer.audit(self.audit_event(event, client_id, subject, detail));
    }

    /// An audit event stamped now, and logged.
    pub fn audit_event(
        &self,
        event: &str,
        client_id: Option<&str>,
        subject: Option<&str>,
        detail: String,
    ) -> AuditEvent {
        let e = AuditEvent {
            at: self.now(),
            event: event.to_owned(),
            client_id: client_id.map(str::to_owned),
            subject: subject.map(str::to_owned),
            detail,
        };
        tracing::info!(event = %e.event, client_id = ?e.client_id, subject = ?e.subject, detail = %e.detail, "audit");
        e
    }
}
