//! What is kept and for how long (docs/deploy.md, "Retention"): records no
//! longer of any use (expired sessions, codes, tokens and revocations of
//! expired JWTs) are purged, and audit events older than `[retention]
//! audit` (400 days unless set) are removed, in the background, in bounded
//! batches. Several nodes may run it at once: each statement deletes rows
//! that are already dead, so two nodes only repeat each other's work.

use std::time::Duration;

use scopegate_store::{Purged, Store, StoreError};

use crate::state::AppState;

/// Rows one statement deletes at most, so no pass holds the database long.
pub const BATCH: i64 = 1_000;
/// Batches one pass runs at most; what is left waits for the next pass.
const MAX_BATCHES: usize = 50;
/// How long after expiry a record is kept: no node's clock is that far off.
pub const GRACE: i64 = 3_600;
/// Between passes.
const EVERY: Duration = Duration::from_secs(300);

/// What one pass removed.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Pass {
    pub expired: Purged,
    pub audit: u64,
}

/// One pass at `now`: expired records, then the audit trail older than
/// `audit_retention` (`None`: kept forever).
pub async fn run_once<S: Store>(store: &S, audit_retention: Option<Duration>, now: i64) -> Result<Pass, StoreError> {
    let mut pass = Pass::default();
    for _ in 0..MAX_BATCHES {
        let purged = store.purge_expired(now - GRACE, BATCH).await?;
        pass.expired.sessions += purged.sessions;
        pass.expired.codes += purged.codes;
        pass.expired.tokens += purged.tokens;
        pass.expired.revocations += purged.revocations;
        pass.expired.shown_once += purged.shown_once;
        pass.expired.challenges += purged.challenges;
        pass.expired.registrations += purged.registrations;
        let most = [
            purged.sessions,
            purged.codes,
            purged.tokens,
            purged.revocations,
            purged.shown_once,
            purged.challenges,
            purged.registrations,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if most < BATCH.unsigned_abs() {
            break;
        }
    }
    if let Some(keep) = audit_retention {
        let before = now.saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
        for _ in 0..MAX_BATCHES {
            let removed = store.prune_audit(before, BATCH).await?;
            pass.audit += removed;
            if removed < BATCH.unsigned_abs() {
                break;
            }
        }
    }
    Ok(pass)
}

/// Runs a pass now and then every few minutes, for as long as the process lives.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let state = state.current();
            match run_once(&state.store, state.policy.settings.audit_retention, state.now()).await {
                Ok(pass) if pass.expired.total() + pass.audit > 0 => tracing::info!(
                    sessions = pass.expired.sessions,
                    codes = pass.expired.codes,
                    tokens = pass.expired.tokens,
                    revocations = pass.expired.revocations,
                    audit_events = pass.audit,
                    "retention: removed records past their use"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: the pass failed; the next one tries again"),
            }
        }
    });
}
