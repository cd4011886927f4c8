//! The abuse limits of `[limits]` ([`scopegate_core::limits`]), each a keyed
//! rate limiter held in memory by this node.
//!
//! A key's whole state is one `u64`; keys whose state says nothing any more
//! are dropped when a shard grows, and a shard never holds more than
//! [`MAX_KEYS_PER_SHARD`]: past that a new key is let through unlimited
//! (and a warning logged) rather than memory growing without bound.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scopegate_core::limits::{self, LimitSettings, Rate, RetryAfter, limit_key};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const SHARDS: usize = 16;
const MAX_KEYS_PER_SHARD: usize = 16 * 1024;
/// A shard is swept of spent keys when it reaches this many, then when it
/// has doubled since.
const FIRST_SWEEP: usize = 256;

#[derive(Debug)]
struct Shard<K> {
    keys: HashMap<K, u64>,
    sweep_at: usize,
}

/// One rate over many keys.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Option<Rate>,
    shards: Vec<Mutex<Shard<K>>>,
    hasher: RandomState,
    /// Keys held, over all shards: zero means nobody is limited, which the
    /// gateway checks before taking a lock.
    held: AtomicUsize,
    epoch: Instant,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        keys: HashMap::new(),
                        sweep_at: FIRST_SWEEP,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
            held: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &K) -> &Mutex<Shard<K>> {
        let i = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    /// Spends one event for `key`, or says how long until it may act.
    pub fn take(&self, key: &K) -> Result<(), RetryAfter> {
        let Some(rate) = self.rate else { return Ok(()) };
        let now = self.now();
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = shard.keys.get(key).copied();
        let next = limits::take(rate, tat, now)?;
        if tat.is_none() {
            if shard.keys.len() >= shard.sweep_at {
                let before = shard.keys.len();
                shard.keys.retain(|_, tat| !limits::is_spent(*tat, now));
                self.held.fetch_sub(before - shard.keys.len(), Ordering::Relaxed);
                shard.sweep_at = (shard.keys.len() * 2).clamp(FIRST_SWEEP, MAX_KEYS_PER_SHARD);
            }
            if shard.keys.len() >= MAX_KEYS_PER_SHARD {
                tracing::warn!(rate = %rate, "rate limiter full; a new key goes unlimited");
                return Ok(());
            }
            self.held.fetch_add(1, Ordering::Relaxed);
        }
        shard.keys.insert(key.clone(), next);
        Ok(())
    }

    /// Whether no key is held: nobody is limited.
    pub fn is_empty(&self) -> bool {
        self.rate.is_none() || self.held.load(Ordering::Relaxed) == 0
    }

    /// Whether `key` would be refused now, spending nothing.
    pub fn peek(&self, key: &K) -> Result<(), RetryAfter> {
        let Some(rate) = self.rate else { return Ok(()) };
        if self.held.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let now = self.now();
        let shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limits::peek(rate, shard.keys.get(key).copied(), now)
    }
}

/// Every limit of this node. Built once at start: a reload of `[limits]`
/// takes effect at the next restart, so a reload never hands out fresh
/// budgets.
#[derive(Debug)]
pub struct Limits {
    pub token_per_client: Limiter<String>,
    pub token_per_address: Limiter<IpAddr>,
    pub sign_in_per_address: Limiter<IpAddr>,
    pub sign_in_failures: Limiter<(String, IpAddr)>,
    pub gateway_failures_per_address: Limiter<IpAddr>,
    pub admin_api_per_token: Limiter<String>,
    pub registration_per_address: Limiter<IpAddr>,
    pub password_checks: PasswordChecks,
}

/// How many password verifications run at once on this node, whoever asks
/// and from however many addresses: each holds Argon2's 19 MiB while it runs,
/// so this bounds the memory sign-in can take, not the per-address limits.
#[derive(Debug)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
}

/// How long an attempt waits for a verification to finish before it is
/// told to come back (a verification takes tens of milliseconds).
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(1);

impl PasswordChecks {
    /// Two per CPU: enough to keep every CPU busy, never more.
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_permits(2 * cpus)
    }

    pub fn with_permits(permits: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// A place to verify one password, or `None` when every place stayed
    /// taken for [`PASSWORD_CHECK_WAIT`] (answer 503 with `Retry-After`).
    pub async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(PASSWORD_CHECK_WAIT, Arc::clone(&self.permits).acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

impl Default for PasswordChecks {
    fn default() -> Self {
        Self::new()
    }
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            token_per_client: Limiter::new(settings.token_per_client),
            token_per_address: Limiter::new(settings.token_per_address),
            sign_in_per_address: Limiter::new(settings.sign_in_per_address),
            sign_in_failures: Limiter::new(settings.sign_in_failures),
            gateway_failures_per_address: Limiter::new(settings.gateway_failures_per_address),
            admin_api_per_token: Limiter::new(settings.admin_api_per_token),
            registration_per_address: Limiter::new(settings.registration_per_address),
            password_checks: PasswordChecks::new(),
        }
    }
}

/// The key a limit counts a client address by.
pub(crate) fn address_key(address: Option<IpAddr>) -> IpAddr {
    // No address is known only off a socket (tests, in-process callers).
    limit_key(address.unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

/// A 429 with `Retry-After`, in the shape of the endpoint that refuses:
/// `{"error":"rate_limited", <field>: "…"}` where `field` is
/// `error_description` (OAuth and the gateway) or `message` (admin API).
pub(crate) fn too_many(retry: RetryAfter, field: &str, what: &str) -> Response {
    let seconds = retry.seconds();
    let body = serde_json::json!({
        "error": "rate_limited",
        field: format!("{what}; try again in {seconds} s"),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    set_retry_after(&mut response, retry);
    response
}

pub(crate) fn set_retry_after(response: &mut Response, retry: RetryAfter) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry.seconds()));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_limiter_refuses_past_its_burst_and_peeks_without_spending() {
        let limiter = Limiter::new(Some(Rate {
            count: 2,
            per: Duration::from_secs(3600),
        }));
        let key = "a".to_owned();
        assert!(limiter.peek(&key).is_ok());
        limiter.take(&key).unwrap();
        assert!(limiter.peek(&key).is_ok());
        limiter.take(&key).unwrap();
        let wait = limiter.peek(&key).unwrap_err();
        assert!(wait.seconds() > 1700 && wait.seconds() <= 1800, "{wait:?}");
        assert!(limiter.take(&key).is_err());
        // Another key has its own budget.
        assert!(limiter.take(&"b".to_owned()).is_ok());
    }

    #[test]
    fn an_off_limit_never_refuses() {
        let limiter: Limiter<u8> = Limiter::new(None);
        for _ in 0..1000 {
            limiter.take(&1).unwrap();
        }
    }

    #[test]
    fn a_limiter_holds_a_bounded_number_of_keys() {
        let limiter = Limiter::new(Some(Rate {
            count: 1,
            per: Duration::from_secs(3600),
        }));
        for i in 0..(SHARDS * MAX_KEYS_PER_SHARD + 5000) {
            limiter.take(&i).unwrap();
        }
        assert!(limiter.held.load(Ordering::Relaxed) <= SHARDS * MAX_KEYS_PER_SHARD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_password_check_waits_for_a_place_then_is_told_to_come_back() {
        let checks = PasswordChecks::with_permits(2);
        let first = checks.enter().await.unwrap();
        let _second = checks.enter().await.unwrap();
        assert!(checks.enter().await.is_none(), "a third at once is refused");
        drop(first);
        assert!(checks.enter().await.is_some(), "a place freed is taken again");
    }
}
