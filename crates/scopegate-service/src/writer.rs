//! Group commit: one task writes issued tokens and audit events for many
//! requests in one transaction. A request still waits until its own tokens
//! (and the audit event recording them) are committed before answering, so
//! nothing is handed out that is not stored; batching saves a commit per
//! request. SQLite gets one batch in flight at a time (it has one writer
//! anyway); PostgreSQL several, since its commit latency, not its CPU, bounds
//! a single writer.
//!
//! Audit events nobody waits for (a stateless JWT's issuance, refusals,
//! revocations) have their own queue, which the writer does not watch while
//! they gather: at 13,000 JWT issuances/s, waking the writer and committing
//! per event took 40% of the process's CPU. They are committed with the next
//! batch of tokens, or at the latest [`AUDIT_LINGER`] after the first of them
//! arrived. A crash loses at most that much more of the trail than before
//! (each event is also a log line).

use scopegate_store::{AuditEvent, Store, TokenRecord};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most requests committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long audit events alone gather before they are committed.
const AUDIT_LINGER: Duration = Duration::from_millis(20);

/// Queued audit events beyond which new ones are kept in the log only.
const AUDIT_QUEUE: usize = 16_384;

/// Tokens a request waits to see stored.
struct Tokens {
    tokens: Vec<TokenRecord>,
    event: AuditEvent,
    done: oneshot::Sender<bool>,
}

/// An audit event, and who waits for it to be committed, if anyone.
struct Queued {
    event: AuditEvent,
    done: Option<oneshot::Sender<bool>>,
}

/// One batch: what to write and who waits for it.
#[derive(Default)]
struct Batch {
    tokens: Vec<TokenRecord>,
    events: Vec<AuditEvent>,
    waiting: Vec<oneshot::Sender<bool>>,
}

impl Batch {
    fn take_tokens(&mut self, buffer: &mut Vec<Tokens>) {
        for Tokens { tokens, event, done } in buffer.drain(..) {
            self.tokens.extend(tokens);
            self.events.push(event);
            self.waiting.push(done);
        }
    }

    /// Whatever audit events are queued now, without waiting.
    fn take_audit(&mut self, audit: &mut mpsc::Receiver<Queued>) {
        while self.events.len() < 2 * MAX_BATCH {
            match audit.try_recv() {
                Ok(q) => self.queued(q),
                Err(_) => break,
            }
        }
    }

    fn queued(&mut self, Queued { event, done }: Queued) {
        self.events.push(event);
        if let Some(done) = done {
            self.waiting.push(done);
        }
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Handle to the writer task.
#[derive(Clone, Debug)]
pub struct Writer {
    tokens: mpsc::Sender<Tokens>,
    audit: mpsc::Sender<Queued>,
    /// Held (shared) by every commit while it runs: taking it exclusively
    /// waits until nothing is being written.
    commits: Arc<tokio::sync::RwLock<()>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task (needs a Tokio runtime).
    pub fn start<S: Store>(store: S) -> Writer {
        let (tokens, mut tokens_rx) = mpsc::channel::<Tokens>(8192);
        let (audit, mut audit_rx) = mpsc::channel::<Queued>(AUDIT_QUEUE);
        let in_flight = Arc::new(Semaphore::new(store.parallel_commits().max(1)));
        let commits = Arc::new(tokio::sync::RwLock::new(()));
        let writer = Writer {
            tokens,
            audit,
            commits: Arc::clone(&commits),
        };
        tokio::spawn(async move {
            let mut buffer = Vec::with_capacity(MAX_BATCH);
            let mut open = true;
            while open {
                // Wait for a commit slot first, so that requests arriving
                // meanwhile join the next batch instead of waiting behind it.
                let Ok(slot) = Arc::clone(&in_flight).acquire_owned().await else {
                    return;
                };
                let mut batch = Batch::default();
                if audit_rx.is_empty() {
                    // Idle: the first of either wakes us.
                    tokio::select! {
                        biased;
                        n = tokens_rx.recv_many(&mut buffer, MAX_BATCH) => open = n > 0,
                        q = audit_rx.recv() => match q {
                            Some(q) => batch.queued(q),
                            None => open = false,
                        },
                    }
                    batch.take_tokens(&mut buffer);
                }
                if batch.waiting.is_empty() && open {
                    // Audit events are waiting: give them company, unless
                    // someone's tokens arrive first.
                    tokio::select! {
                        biased;
                        n = tokens_rx.recv_many(&mut buffer, MAX_BATCH) => open = n > 0,
                        () = tokio::time::sleep(AUDIT_LINGER) => {}
                    }
                    batch.take_tokens(&mut buffer);
                }
                batch.take_audit(&mut audit_rx);
                if batch.is_empty() {
                    continue;
                }
                let Batch {
                    tokens,
                    events,
                    waiting,
                } = batch;
                let store = store.clone();
                let running = Arc::clone(&commits).read_owned().await;
                let commit = async move {
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
                    drop(running);
                };
                if open {
                    tokio::spawn(commit);
                } else {
                    // Shutting down: the last batch is written before the task ends.
                    commit.await;
                }
            }
        });
        writer
    }

    /// Commits `last` (the event that says the server stops) with every
    /// audit event queued before it, and waits until no batch is being
    /// written: what `serve` does before it exits.
    pub async fn flush(&self, last: AuditEvent) -> bool {
        let stored = self.store_tokens(Vec::new(), last).await;
        let _nothing_running = self.commits.write().await;
        stored
    }

    /// Stores `tokens` with the audit event that records their issuance, in
    /// the same transaction, batched with other requests'; `false` if that failed.
    pub async fn store_tokens(&self, tokens: Vec<TokenRecord>, event: AuditEvent) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tokens.send(Tokens { tokens, event, done }).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// Commits an audit event after every one queued before it, and waits
    /// for the commit: a change's event, which must not be lost and must
    /// not appear in the trail before what happened earlier. `false` if it
    /// could not be written.
    pub async fn audit_committed(&self, event: AuditEvent) -> bool {
        let (done, wait) = oneshot::channel();
        let queued = Queued {
            event,
            done: Some(done),
        };
        if self.audit.send(queued).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// Queues an audit event; if the writer is far behind, the event is kept in the log only.
    pub fn audit(&self, event: AuditEvent) {
        if self.audit.try_send(Queued { event, done: None }).is_err() {
            tracing::warn!("writer is behind; audit event kept in the log only");
        }
    }
}
