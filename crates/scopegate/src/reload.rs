//! Policy hot reload: on SIGHUP, and when the policy file changes (checked
//! once a second by size, modification time and content, so an editor that
//! writes the file in place and one that renames over it both count). A new
//! policy is compiled first and swapped in only if valid; requests in flight
//! finish on the policy they started with. An invalid file is logged with its
//! `FILE:LINE` errors, and the old policy stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use scopegate_core::Policy;
use scopegate_server::AppState;
use scopegate_store::Store;

use crate::policy_file::{LoadError, load};

/// How often the file is looked at.
const POLL: Duration = Duration::from_secs(1);

#[derive(PartialEq, Eq, Clone, Debug)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    content: Option<u64>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    // Size and mtime can stay the same across a quick same-length edit:
    // the content hash decides.
    let content = std::fs::read(path).ok().map(|bytes| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        h.finish()
    });
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        content,
    })
}

/// Watches `path` and reloads into `state` until the process ends.
pub fn spawn<S: Store>(path: PathBuf, state: AppState<S>) {
    // Registered before `spawn` returns, so a SIGHUP sent as soon as `serve`
    // says it is listening reloads instead of ending the process.
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::spawn(async move {
        let mut last = stamp(&path);
        loop {
            #[cfg(unix)]
            let signalled = {
                let hup_recv = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = hup_recv => true,
                    () = tokio::time::sleep(POLL) => false,
                }
            };
            #[cfg(not(unix))]
            let signalled = {
                tokio::time::sleep(POLL).await;
                false
            };
            let now = stamp(&path);
            if !signalled && now == last {
                continue;
            }
            last = now;
            reload(&path, &state, if signalled { "SIGHUP" } else { "file changed" });
        }
    });
}

fn reload<S: Store>(path: &Path, state: &AppState<S>, why: &str) {
    match load(path) {
        Ok(policy) => {
            let old = state.live.load();
            warn_restart_only(&old.policy, &policy);
            let routes = policy.routes().len();
            let scopes = policy.catalog.len();
            state.install(Arc::new(policy));
            tracing::info!(file = %path.display(), trigger = why, routes, scopes, "policy reloaded");
        }
        Err(LoadError::Io(e)) => {
            state.reload_refused();
            tracing::error!(file = %path.display(), trigger = why, error = %e, "policy not reloaded; the old policy stays");
        }
        Err(LoadError::Invalid(errors)) => {
            state.reload_refused();
            for e in &errors.errors {
                tracing::error!("{}:{}: {}", errors.file, e.line, e.message);
            }
            tracing::error!(
                file = %path.display(),
                trigger = why,
                problems = errors.errors.len(),
                "policy not reloaded: it is invalid; the old policy stays"
            );
        }
    }
}

/// Settings that only a restart applies.
fn warn_restart_only(old: &Policy, new: &Policy) {
    if old.settings.listen != new.settings.listen {
        tracing::warn!("`listen` changed; it takes effect at the next restart");
    }
    if old.settings.database != new.settings.database {
        tracing::warn!("`database` changed; it takes effect at the next restart");
    }
    if old.settings.gateway.idle_timeout != new.settings.gateway.idle_timeout {
        tracing::warn!("`gateway.idle_timeout` changed; it takes effect at the next restart");
    }
    let (o, n) = (&old.settings.gateway, &new.settings.gateway);
    if (o.body_timeout, o.body_min_rate, o.max_header_bytes) != (n.body_timeout, n.body_min_rate, n.max_header_bytes) {
        tracing::warn!(
            "`gateway.body_timeout`, `body_min_rate` or `max_header_bytes` changed; for connections they take effect at the next restart"
        );
    }
    if old.settings.limits != new.settings.limits {
        // A reload must not hand every limited key a fresh budget.
        tracing::warn!("`limits` changed; they take effect at the next restart");
    }
    if old.settings.tokens.algorithm != new.settings.tokens.algorithm {
        tracing::warn!("`tokens.algorithm` changed; a key of the new algorithm signs from the next restart");
    }
}
