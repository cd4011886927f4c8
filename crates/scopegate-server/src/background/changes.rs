//! Following the store's change feed, so that what any process changes
//! (another node, or a `scopegate app …` command) reaches this node's caches
//! within a second: on PostgreSQL a `NOTIFY` wakes every node at the commit;
//! on SQLite the feed is read every 250 ms.
//!
//! Ids are handed out when a change is written but become visible when its
//! transaction commits, so a later id can be seen before an earlier one. A
//! node therefore reads again every change of the last [`WINDOW`] and skips
//! those it applied; an id older than that is settled.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use scopegate_store::{Change, Store, StoreError, Wake};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::state::AppState;

/// How long a change stays open to a transaction that committed late.
const WINDOW: Duration = Duration::from_secs(10);
/// Rows read per query.
const PAGE: i64 = 500;
/// Changes older than this are pruned; a node that could not read the feed
/// for half of it forgets everything it caches instead of catching up.
const KEEP_SECONDS: i64 = 3600;
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Where this node stands in the feed.
struct Follower {
    state: AppState,
    /// Every change up to this id was applied, or is too old to wait for.
    settled: i64,
    /// Changes above `settled` already applied, with when.
    applied: BTreeMap<i64, Instant>,
    last_read: Instant,
    last_pruned: Instant,
    /// Policy reloads announced by other nodes (the file's SHA-256), for
    /// whoever reloads this node's policy.
    policy_notices: Option<mpsc::UnboundedSender<String>>,
}

/// What a page of changes asks of this node, beyond forgetting records.
#[derive(Default)]
struct Needs {
    credentials: bool,
    revocation_list: bool,
    keys: bool,
    everything: bool,
    policies: Vec<String>,
}

/// Starts following the feed from its current end (this node's caches are
/// empty, so nothing before matters). Fails only if the feed cannot be
/// opened at all; later failures are logged and retried.
pub async fn follow(state: AppState, policy_notices: Option<mpsc::UnboundedSender<String>>) -> Result<(), StoreError> {
    let mut subscription = state.store.subscribe().await?;
    let settled = state.store.last_change().await?;
    let mut follower = Follower {
        state,
        settled,
        applied: BTreeMap::new(),
        last_read: Instant::now(),
        last_pruned: Instant::now(),
        policy_notices,
    };
    let stats = Arc::clone(&follower.state.feed);
    stats.up.store(true, Ordering::Relaxed);
    tokio::spawn(async move {
        let mut lost = false;
        loop {
            if subscription.next().await == Wake::Lost {
                stats.lost.fetch_add(1, Ordering::Relaxed);
                if !lost {
                    lost = true;
                    tracing::warn!("the change feed's connection was lost; catching up from the table");
                }
            }
            match follower.catch_up().await {
                Ok(applied) => {
                    stats.applied.fetch_add(applied, Ordering::Relaxed);
                    stats.up.store(true, Ordering::Relaxed);
                    if lost {
                        lost = false;
                        tracing::info!("the change feed is back; caught up");
                    }
                }
                Err(e) => {
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                    stats.up.store(false, Ordering::Relaxed);
                    if !lost {
                        lost = true;
                        tracing::warn!(error = %e, "cannot read the change feed; cached records live at most their TTL");
                    }
                }
            }
        }
    });
    Ok(())
}

impl Follower {
    /// Reads and applies every change not yet applied; how many it applied.
    async fn catch_up(&mut self) -> Result<u64, StoreError> {
        let now = Instant::now();
        if now.duration_since(self.last_read) > Duration::from_secs(KEEP_SECONDS as u64 / 2) {
            // Rows this node never read may be pruned by now.
            self.forget_everything().await?;
            self.settled = self.state.store.last_change().await?;
            self.applied.clear();
            self.last_read = now;
            return Ok(0);
        }
        while let Some((&id, &at)) = self.applied.first_key_value() {
            if now.duration_since(at) < WINDOW {
                break;
            }
            self.settled = self.settled.max(id);
            self.applied.remove(&id);
        }
        let mut needs = Needs::default();
        let mut count = 0;
        let mut after = self.settled;
        loop {
            let page = self.state.store.changes_after(after, PAGE).await?;
            for (id, change) in &page {
                if *id > self.settled && !self.applied.contains_key(id) {
                    self.note(change.as_ref(), &mut needs);
                    self.applied.insert(*id, now);
                    count += 1;
                }
            }
            match page.last() {
                Some(&(last, _)) if page.len() as i64 == PAGE => after = last,
                _ => break,
            }
        }
        self.last_read = now;
        self.act(needs).await?;
        if now.duration_since(self.last_pruned) > PRUNE_EVERY {
            self.last_pruned = now;
            let pruned = self.state.store.prune_changes(self.state.now() - KEEP_SECONDS).await?;
            tracing::debug!(pruned, "pruned the change feed");
        }
        Ok(count)
    }

    /// Forgets the records a change makes stale; notes what else it needs.
    fn note(&self, change: Option<&Change>, needs: &mut Needs) {
        let state = &self.state;
        match change {
            Some(Change::Revocation(id)) => {
                state.revocations.add(id);
                needs.credentials = true;
            }
            Some(Change::Revocations) => needs.revocation_list = true,
            Some(Change::Tokens) => needs.credentials = true,
            Some(Change::Client(client_id)) => {
                state.clients.forget(client_id.as_str());
                needs.credentials = true;
            }
            // Which key sets the app had is gone with it.
            Some(Change::App(_)) => {
                state.clients.clear();
                needs.credentials = true;
            }
            Some(Change::User(login)) => {
                state.users.forget(login.as_str());
                needs.credentials = true;
            }
            Some(Change::SigningKeys) => needs.keys = true,
            Some(Change::Policy(hash)) => needs.policies.push(hash.clone()),
            Some(Change::Everything) | None => needs.everything = true,
        }
    }

    async fn act(&self, needs: Needs) -> Result<(), StoreError> {
        if needs.everything {
            return self.forget_everything().await;
        }
        if needs.revocation_list {
            self.state
                .revocations
                .reload(&self.state.store, self.state.now())
                .await?;
        }
        if needs.revocation_list || needs.credentials {
            self.state.forget_credentials();
        }
        if needs.keys {
            self.reload_keys().await?;
        }
        if let Some(notices) = &self.policy_notices {
            for hash in needs.policies {
                let _ = notices.send(hash);
            }
        }
        Ok(())
    }

    async fn reload_keys(&self) -> Result<(), StoreError> {
        match self.state.keys.reload(&self.state.store).await {
            Ok(()) => Ok(()),
            Err(scopegate_service::credentials::keys::KeyError::Store(e)) => Err(e),
            // A key this node cannot use (sealed under another key-encryption
            // key, say): keep signing with the one it has, and say so.
            Err(e) => {
                tracing::error!(error = %e, "cannot load the signing keys another node changed; this node keeps its own");
                Ok(())
            }
        }
    }

    /// Drops every cached record and reads the revocations and keys again.
    async fn forget_everything(&self) -> Result<(), StoreError> {
        let state = &self.state;
        state.revocations.reload(&state.store, state.now()).await?;
        state.clients.clear();
        state.users.clear();
        state.forget_credentials();
        self.reload_keys().await
    }
}
