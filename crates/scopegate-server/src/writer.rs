//! Group commit: one task writes issued tokens and audit events for many
//! requests in one transaction. A request still waits until its own tokens are
//! committed before answering, so nothing is handed out that is not stored;
//! what batching saves is a commit (an fsync on SQLite) per request.

use scopegate_store::{AuditEvent, Store, TokenRecord};
use tokio::sync::{mpsc, oneshot};

/// Most tokens committed in one transaction.
const MAX_BATCH: usize = 512;

struct Job {
    tokens: Vec<TokenRecord>,
    done: oneshot::Sender<bool>,
}

/// Handle to the writer task.
#[derive(Clone, Debug)]
pub struct Writer {
    tokens: mpsc::Sender<Job>,
    audit: mpsc::Sender<AuditEvent>,
}

impl Writer {
    /// Starts the token writer and the audit writer (needs a Tokio runtime).
    pub fn start<S: Store>(store: S) -> Writer {
        let (tokens, mut token_rx) = mpsc::channel::<Job>(4096);
        let token_store = store.clone();
        tokio::spawn(async move {
            while let Some(first) = token_rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match token_rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let all: Vec<TokenRecord> = jobs.iter().flat_map(|j| j.tokens.iter().cloned()).collect();
                let ok = match token_store.insert_tokens(&all).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(error = %e, batch = all.len(), "storing issued tokens failed");
                        false
                    }
                };
                for job in jobs {
                    let _ = job.done.send(ok);
                }
            }
        });
        let (audit, mut audit_rx) = mpsc::channel::<AuditEvent>(8192);
        tokio::spawn(async move {
            while let Some(first) = audit_rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match audit_rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.audit_batch(&batch).await {
                    tracing::error!(error = %e, events = batch.len(), "audit write failed");
                }
            }
        });
        Writer { tokens, audit }
    }

    /// Stores `tokens`, batched with other requests'; `false` if that failed.
    pub async fn store_tokens(&self, tokens: Vec<TokenRecord>) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tokens.send(Job { tokens, done }).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// Queues an audit event; if the writer is far behind, the event is kept in the log only.
    pub fn audit(&self, event: AuditEvent) {
        if self.audit.try_send(event).is_err() {
            tracing::warn!("audit writer is behind; event kept in the log only");
        }
    }
}
