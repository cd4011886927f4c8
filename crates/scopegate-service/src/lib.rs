//! scopegate's service layer: the operations on its records (apps, key sets,
//! client secrets, users, sessions, grants, tokens, scope requests, admin
//! tokens, signing keys), each checked, written in one step and audited
//! once; the credential primitives (secrets, passwords, signing keys,
//! sealing); identification (who a credential speaks for, through the
//! record caches and the in-memory revocation list); the batching writer.
//!
//! It knows no web framework. The server's admin API and portal, and the
//! command line, call the same [`operations`] with a [`Context`] naming the
//! store, the policy, the time, who acts and which caches to keep true, so a
//! rule (a limit, a check, the audit event) holds whichever front end is
//! used.
//!
//! ```no_run
//! # async fn run(policy: &scopegate_core::Policy) -> Result<(), Box<dyn std::error::Error>> {
//! use scopegate_service::{Actor, Context, NoCaches, operations::users};
//! use scopegate_store::Database;
//!
//! let store = Database::open("sqlite://scopegate.db").await?;
//! let actor = Actor::command_line("scopegate user disable");
//! let cx = Context { store: &store, policy, now: 1_700_000_000, actor: &actor, caches: &NoCaches };
//! users::set_enabled(&cx, "alice", false).await?;
//! # Ok(())
//! # }
//! ```

pub mod audit;
mod context;
pub mod credentials;
pub mod identification;
pub mod operations;
pub mod record_cache;
pub mod repeats;
pub mod revocations;
pub mod secret_uses;
pub mod worker;
pub mod writer;

use std::sync::Arc;

pub use audit::AuditKind;
pub use context::{Actor, Caches, Context, NoCaches, Result, Revoked, ServiceError};

/// Unix seconds; a parameter so that tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system's clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}
