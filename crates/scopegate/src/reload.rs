//! Policy hot reload: on SIGHUP, when the policy file changes (checked
//! once a second by size, modification time and content, so an editor that
//! writes the file in place and one that renames over it both count), and
//! when another node on the same database reloaded a policy this node does
//! not have (its file's SHA-256 comes through the change feed). A new
//! policy is compiled first and swapped in only if valid; requests in flight
//! finish on the policy they started with. An invalid file is logged with its
//! `FILE:LINE` errors, and the old policy stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use scopegate_core::Policy;
use scopegate_server::AppState;
use scopegate_store::{Change, Store};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

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

/// The SHA-256 of the file's content, in hex, as nodes compare policies.
fn content_hash(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Why the file is read again.
enum Trigger {
    Hangup,
    FileChanged,
    /// Another node reloaded the policy with this hash.
    Node(String),
}

/// Watches `path` and reloads into `state` until the process ends; `notices`
/// brings other nodes' reloads.
pub(crate) fn spawn(path: PathBuf, state: AppState, mut notices: mpsc::UnboundedReceiver<String>) {
    // Registered before `spawn` returns, so a SIGHUP sent as soon as `serve`
    // says it is listening reloads instead of ending the process.
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    tokio::spawn(async move {
        let mut last = stamp(&path);
        let mut loaded = content_hash(&path);
        loop {
            let hup_recv = async {
                #[cfg(unix)]
                if let Some(h) = hup.as_mut() {
                    return h.recv().await;
                }
                std::future::pending().await
            };
            let notice = async {
                match notices.recv().await {
                    Some(hash) => hash,
                    // Nobody follows the feed: wait for the other triggers only.
                    None => std::future::pending().await,
                }
            };
            let trigger = tokio::select! {
                _ = hup_recv => Trigger::Hangup,
                () = tokio::time::sleep(POLL) => Trigger::FileChanged,
                hash = notice => Trigger::Node(hash),
            };
            let now = stamp(&path);
            let why = match &trigger {
                Trigger::Hangup => "SIGHUP",
                Trigger::FileChanged if now == last => continue,
                Trigger::FileChanged => "file changed",
                Trigger::Node(hash) if loaded.as_ref() == Some(hash) => continue,
                Trigger::Node(_) => "another node reloaded its policy",
            };
            last = now;
            let hash = content_hash(&path);
            if !reload(&path, &state, why) {
                continue;
            }
            loaded.clone_from(&hash);
            match (&trigger, hash) {
                (Trigger::Node(theirs), ours) if ours.as_ref() != Some(theirs) => {
                    tracing::warn!(
                        file = %path.display(),
                        "another node on this database reloaded a policy file that differs from this node's"
                    );
                }
                (Trigger::Node(_), _) => {}
                (_, Some(ours)) => {
                    // Tell the other nodes, which read their own file.
                    if let Err(e) = state.store.record_change(&Change::Policy(ours)).await {
                        tracing::warn!(error = %e, "cannot tell the other nodes that the policy was reloaded");
                    }
                }
                (_, None) => {}
            }
        }
    });
}

/// Reads and installs the policy; `false` if it was not installed.
fn reload(path: &Path, state: &AppState, why: &str) -> bool {
    match load(path) {
        Ok(policy) => {
            let old = state.live.load();
            warn_restart_only(&old.policy, &policy);
            let routes = policy.routes().len();
            let scopes = policy.catalog.len();
            state.install(Arc::new(policy));
            tracing::info!(file = %path.display(), trigger = why, routes, scopes, "policy reloaded");
            true
        }
        Err(LoadError::Io(e)) => {
            state.reload_refused();
            tracing::error!(file = %path.display(), trigger = why, error = %e, "policy not reloaded; the old policy stays");
            false
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
            false
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
