//! Group commit: one task writes issued tokens and audit events for many
//! requests in one transaction. A request still waits until its own tokens
//! (and the audit event recording them) are committed before answering, so
//! nothing is handed out that is not stored; batching saves a commit per
//! request. SQLite gets one batch in flight at a time (it has one writer
//! anyway); PostgreSQL several, since its commit latency, not its CPU, bounds
//! a single writer.

use scopegate_store::{AuditEvent, Store, TokenRecord};
use std::sync::Arc;

use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long a batch of audit events alone (nobody waiting on it) gathers more
/// before it is committed. A stateless JWT's issuance writes only its audit
/// event; committing those one wake-up at a time took 40% of the process's CPU
/// at 13k issuances/s. Events are queued fire-and-forget either way, so a crash
/// loses at most this much more of the trail (the log line of each stays).
const AUDIT_LINGER: Duration = Duration::from_millis(20);

/// One batch: what to write and who waits for it.
#[derive(Default)]
struct Batch {
    tokens: Vec<TokenRecord>,
    events: Vec<AuditEvent>,
    waiting: Vec<oneshot::Sender<bool>>,
}

impl Batch {
    fn take(&mut self, buffer: &mut Vec<Message>) {
        for message in buffer.drain(..) {
            match message {
                Message::Tokens { tokens, event, done } => {
                    self.tokens.extend(tokens);
                    self.events.push(event);
                    self.waiting.push(done);
                }
                Message::Audit(e) => self.events.push(e),
            }
        }
    }

    fn len(&self) -> usize {
        self.events.len()
    }
}

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
                let mut batch = Batch::default();
                batch.take(&mut buffer);
                // Audit events alone can wait for company; anyone waiting on
                // their tokens ends the wait at once.
                let until = Instant::now() + AUDIT_LINGER;
                while batch.waiting.is_empty() && batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(until, rx.recv_many(&mut buffer, MAX_BATCH - batch.len())).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => batch.take(&mut buffer),
                    }
                }
                let Batch {
                    tokens,
                    events,
                    waiting,
                } = batch;
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
