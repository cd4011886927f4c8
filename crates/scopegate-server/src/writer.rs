//! Group commit: one task writes issued tokens and audit events for many
//! requests in one transaction. A request still waits until its own tokens
//! (and the audit event recording them) are committed before answering, so
//! nothing is handed out that is not stored; batching saves a commit per
//! request. SQLite gets one batch in flight at a time (it has one writer
//! anyway); PostgreSQL several, since its commit latency, not its CPU, bounds
//! a single writer.

use scopegate_store::{AuditEvent, Store, TokenRecord};
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 512;

enum Message {
    Tokens {
        tokens: Vec<TokenRecord>,
        event: AuditEvent,
        done: oneshot::Sender<bool>,
    },
    Audit(AuditEvent),
}

/// Handle to the writer task.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the writer task (needs a Tokio runtime).
    pub fn start<S: Store>(store: S) -> Writer {
        let (queue, mut rx) = mpsc::channel::<Message>(8192);
        let in_flight = Arc::new(Semaphore::new(store.parallel_commits().max(1)));
        tokio::spawn(async move {
            let mut buffer = Vec::with_capacity(MAX_BATCH);
            loop {
                // Wait for a commit slot first, so that requests arriving
                // meanwhile join the next batch instead of waiting behind it.
                let Ok(slot) = Arc::clone(&in_flight).acquire_owned().await else {
                    return;
                };
                if rx.recv_many(&mut buffer, MAX_BATCH).await == 0 {
                    return;
                }
                let mut tokens = Vec::new();
                let mut events = Vec::new();
                let mut waiting = Vec::new();
                for message in buffer.drain(..) {
                    match message {
                        Message::Tokens { tokens: t, event, done } => {
                            tokens.extend(t);
                            events.push(event);
                            waiting.push(done);
                        }
                        Message::Audit(e) => events.push(e),
                    }
                }
                let store = store.clone();
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let result = store.commit_batch(&tokens, &events).await;
                    drop(slot);
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tracing::debug!(tokens = tokens.len(), events = events.len(), micros, "batch committed");
                    let ok = match result {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(error = %e, tokens = tokens.len(), events = events.len(), "batch commit failed");
                            false
                        }
                    };
                    for done in waiting {
                        let _ = done.send(ok);
                    }
                });
            }
        });
        Writer { queue }
    }

    /// Stores `tokens` with the audit event that records their issuance, in
    /// the same transaction, batched with other requests'; `false` if that failed.
    pub async fn store_tokens(&self, tokens: Vec<TokenRecord>, event: AuditEvent) -> bool {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Tokens { tokens, event, done }).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// Queues an audit event; if the writer is far behind, the event is kept in the log only.
    pub fn audit(&self, event: AuditEvent) {
        if self.queue.try_send(Message::Audit(event)).is_err() {
            tracing::warn!("writer is behind; audit event kept in the log only");
        }
    }
}
