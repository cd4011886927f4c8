//! Who a request's credentials speak for, and with which scopes *now*.
//!
//! A credential is checked against the store once (per worker thread), then trusted from memory
//! until the first of: the policy's `gateway.cache_ttl` (whole seconds of the
//! state's clock; the bound on a revocation made by another process or node),
//! the token's expiry, or the moment a `max_lifetime` removes one of its scopes. A revocation made by
//! this process empties the cache at once. The cache is keyed by the SHA-256
//! of the `Authorization` value (of a JWT, of its signature: see
//! [`IdentityCache::lookup`]): no raw token or secret is kept, and a hit costs
//! one hash and one map lookup in the worker's own shard (for a JWT, and one
//! comparison of its header and payload), with no parsing, no allocation and
//! no write to memory another worker uses.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use http::HeaderValue;
use std::sync::atomic::{AtomicU64, Ordering};

use scopegate_core::enforce::{Credentials, HeldNow, Refusal, parse_authorization};
use scopegate_core::{Held, Policy};
use scopegate_store::{Database, Store, StoreError, TokenKind, revoked_by};
use sha2::{Digest, Sha256};

use crate::credentials::keys::{Keys, looks_like_jwt};
use crate::credentials::secrets;
use crate::record_cache::{ClientCache, UserCache};
use crate::revocations::Revocations;

/// Past this many entries, or this many bytes of JWT headers and payloads,
/// a worker's cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;
const MAX_SIGNED_BYTES: usize = 32 << 20;

/// What credentials are verified against: the parts of the app state that
/// identification reads, and nothing else.
#[derive(Debug)]
pub struct Verifier<'a> {
    pub store: &'a Database,
    pub keys: &'a Keys,
    pub revocations: &'a Revocations,
    pub clients: &'a ClientCache,
    pub users: &'a UserCache,
    pub secret_uses: &'a crate::secret_uses::SecretUses,
}

/// An authenticated caller, as the gateway forwards it (to the upstream, or
/// in `/authz`'s answer).
#[derive(Debug)]
pub struct ForwardedIdentity {
    pub client_id: String,
    /// What the caller holds now, closed under implication.
    pub held: Held,
    /// The identity headers, ready to send.
    pub client_id_value: HeaderValue,
    pub subject_value: Option<HeaderValue>,
    pub scopes_value: HeaderValue,
    pub environment_value: HeaderValue,
    /// The resource (RFC 8707) the token was issued for; `None`: for none.
    pub resource: Option<Box<str>>,
    /// Unix time from which this identity must be looked at again: the
    /// first of expiry, a `max_lifetime` cap, and `gateway.cache_ttl`.
    valid_until: i64,
}

type Key = [u8; 32];

/// The key is already a uniform hash: its first eight bytes are the map's hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
}

/// A cached identity. For a key taken from a JWT's signature, also what
/// the signature was verified over, so that the entry answers only to the
/// exact bytes once verified.
#[derive(Debug)]
struct Entry {
    signed: Option<Box<[u8]>>,
    identity: Arc<ForwardedIdentity>,
}

/// One worker's entries, and the bytes their `signed` parts hold.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Key, Entry, BuildHasherDefault<KeyHasher>>,
    signed_bytes: usize,
}

/// Where an `Authorization` value is found in the cache.
struct Lookup<'a> {
    key: Key,
    /// Of a value keyed by its signature: the rest of it, from `Bearer` to
    /// the last `.`.
    signed: Option<&'a [u8]>,
}

/// A JWT split at its signature: what comes before the last `.` and what
/// follows it, when that is at least 64 characters (384 bits), as
/// unguessable a key as a hash of the whole value. Any other value with such
/// a tail is keyed by it too, which is as safe: the entry still compares the
/// rest. Found from the end, so a long payload is read only once, by that
/// comparison.
fn jwt_signature(authorization: &[u8]) -> Option<(&[u8], &[u8])> {
    let last_dot = authorization.iter().rposition(|&b| b == b'.')?;
    let (signed, signature) = (&authorization[..last_dot], &authorization[last_dot + 1..]);
    (signature.len() >= 64).then_some((signed, signature))
}

/// One cache per worker ([`crate::worker`]): a hit then touches no lock word
/// and no reference count that another worker writes. A credential is
/// verified once per worker that sees it.
#[derive(Debug)]
pub struct IdentityCache {
    shards: Box<[Shard]>,
    /// How many times the cache was cleared. A verification that started
    /// before a clear must not put what it found into the cache after it:
    /// that identity may be the one just revoked.
    clears: AtomicU64,
}

/// Two cache lines, so that neighbouring shards never share one (adjacent-line
/// prefetching pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(RwLock<Entries>);

impl Default for IdentityCache {
    fn default() -> Self {
        Self {
            shards: (0..crate::worker::SLOTS).map(|_| Shard::default()).collect(),
            clears: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl IdentityCache {
    fn shard(&self) -> &RwLock<Entries> {
        &self.shards[crate::worker::slot()].0
    }

    /// The key is the SHA-256 of the value; for a JWT, of its signature alone.
    /// Hashing a whole 650-byte token was most of the decision's CPU time; its
    /// 86-character signature is as secret as the token and, under our key,
    /// names one header and payload. The entry keeps that header and payload
    /// (no secret: the caller's identity is in the entry anyway) and answers
    /// only when they are the bytes presented, never to another header and
    /// payload sent with the same signature.
    fn lookup<'a>(&self, authorization: &'a [u8]) -> Lookup<'a> {
        match jwt_signature(authorization) {
            // A header value holds no NUL: this never equals a whole value's hash.
            Some((signed, signature)) => Lookup {
                key: Sha256::new()
                    .chain_update(b"jwt signature\0")
                    .chain_update(signature)
                    .finalize()
                    .into(),
                signed: Some(signed),
            },
            None => Lookup {
                key: Sha256::digest(authorization).into(),
                signed: None,
            },
        }
    }

    fn get(&self, lookup: &Lookup<'_>, now: i64) -> Option<Arc<ForwardedIdentity>> {
        let entries = self.shard().read().ok()?;
        let entry = entries.map.get(&lookup.key)?;
        // Not constant time, nor need it be: the key matched, so the caller
        // holds the signature, and what is compared is no secret.
        (entry.signed.as_deref() == lookup.signed && now < entry.identity.valid_until)
            .then(|| Arc::clone(&entry.identity))
    }

    /// Where the cache stands: taken before a verification starts, for [`Self::insert`].
    fn epoch(&self) -> u64 {
        self.clears.load(Ordering::Acquire)
    }

    /// Keeps `identity`, verified since `epoch`, unless the cache was
    /// cleared meanwhile. The check is made under the shard's lock, which
    /// [`Self::clear`] takes after counting: either the clear is seen here,
    /// or the entry is there for the clear to remove.
    fn insert(&self, lookup: Lookup<'_>, identity: Arc<ForwardedIdentity>, epoch: u64) {
        if let Ok(mut entries) = self.shard().write() {
            if self.clears.load(Ordering::Acquire) != epoch {
                return;
            }
            let signed = lookup.signed.map(Box::<[u8]>::from);
            let adds = signed.as_ref().map_or(0, |s| s.len());
            if entries.map.len() >= MAX_ENTRIES || entries.signed_bytes + adds > MAX_SIGNED_BYTES {
                *entries = Entries::default();
            }
            let replaced = entries.map.insert(lookup.key, Entry { signed, identity });
            let freed = replaced.and_then(|e| e.signed).map_or(0, |s| s.len());
            entries.signed_bytes = entries.signed_bytes + adds - freed;
        }
    }

    /// Forgets every worker's entries (a revocation made by this process).
    pub fn clear(&self) {
        self.clears.fetch_add(1, Ordering::AcqRel);
        for shard in &self.shards {
            if let Ok(mut entries) = shard.0.write() {
                *entries = Entries::default();
            }
        }
    }
}

fn unavailable(e: StoreError) -> Refusal {
    Refusal::Unavailable { detail: e.to_string() }
}

fn invalid(why: impl Into<String>) -> Refusal {
    Refusal::InvalidToken(why.into())
}

/// What a credential says before the request-time checks.
#[derive(Debug)]
pub struct Claimed {
    pub client_id: String,
    pub subject: Option<String>,
    pub environment: String,
    pub scope: String,
    pub granted_at: i64,
    pub expires_at: Option<i64>,
    /// The resource (RFC 8707) the token was issued for.
    pub resource: Option<String>,
}

/// The identity behind an `Authorization` value, from the cache or the store.
/// The value is parsed only on a miss: the cache holds only values that
/// parsed and verified under this generation's policy, and the same bytes
/// parse the same way.
pub async fn identify(
    state: &Verifier<'_>,
    policy: &Policy,
    cache: &IdentityCache,
    authorization: &[u8],
    now: i64,
) -> Result<Arc<ForwardedIdentity>, Refusal> {
    let lookup = cache.lookup(authorization);
    if let Some(identity) = cache.get(&lookup, now) {
        return Ok(identity);
    }
    let epoch = cache.epoch();
    let credentials = parse_authorization(authorization, policy.settings.gateway.basic_auth)?;
    let is_basic = matches!(credentials, Credentials::Basic { .. });
    let verified = async {
        let claimed = match credentials {
            Credentials::None => return Err(Refusal::Unauthenticated),
            Credentials::Bearer(token) if looks_like_jwt(token) => jwt(state, policy, token, now).await?,
            Credentials::Bearer(token) => opaque(state, token, now).await?,
            Credentials::Basic { client_id, secret } => basic(state, &client_id, &secret, now).await?,
        };
        check_now(state, policy, claimed, now).await
    };
    let identity = match verified.await {
        Ok(identity) => Arc::new(identity),
        // A refused Basic credential is also answered with a Basic challenge.
        Err(Refusal::InvalidToken(why)) if is_basic => return Err(Refusal::InvalidBasic(why)),
        Err(refusal) => return Err(refusal),
    };
    cache.insert(lookup, Arc::clone(&identity), epoch);
    Ok(identity)
}

async fn jwt(state: &Verifier<'_>, policy: &Policy, token: &str, now: i64) -> Result<Claimed, Refusal> {
    let Some(c) = state
        .keys
        .verify_for(token, &policy.settings.issuer, &policy.audiences(), now)
    else {
        return Err(invalid(
            "the token is not valid: bad signature, issuer or type, or expired",
        ));
    };
    if state
        .revocations
        .is_revoked(state.store, &c.jti, &c.grant_id)
        .await
        .map_err(unavailable)?
    {
        return Err(invalid("the token was revoked"));
    }
    Ok(Claimed {
        resource: c.resource().map(str::to_owned),
        subject: (c.sub != c.client_id).then(|| c.sub.clone()),
        client_id: c.client_id,
        environment: c.env,
        scope: c.scope,
        granted_at: c.granted_at.unwrap_or(c.iat),
        expires_at: Some(c.exp),
    })
}

async fn opaque(state: &Verifier<'_>, token: &str, now: i64) -> Result<Claimed, Refusal> {
    // Garbage is refused here, so that it never waits on (or, in an outage,
    // is answered 503 by) the store.
    if !secrets::could_be_stored_token(token) {
        return Err(invalid("unknown token"));
    }
    let Some(t) = state.store.token(&secrets::hash(token)).await.map_err(unavailable)? else {
        return Err(invalid("unknown token"));
    };
    if t.kind != TokenKind::Access {
        return Err(invalid("a refresh token is not an access token"));
    }
    if t.revoked {
        return Err(invalid("the token was revoked"));
    }
    if !t.is_live(now) {
        return Err(invalid("the token has expired"));
    }
    Ok(Claimed {
        client_id: t.client_id,
        subject: t.subject,
        environment: t.environment,
        scope: t.scope,
        granted_at: t.granted_at,
        expires_at: t.expires_at,
        resource: t.resource,
    })
}

/// An app's `client_id:client_secret`: acts with the app's default scopes.
async fn basic(state: &Verifier<'_>, client_id: &str, secret: &str, now: i64) -> Result<Claimed, Refusal> {
    let client = state
        .clients
        .get(state.store, client_id, now)
        .await
        .map_err(unavailable)?;
    let Some((client, used)) = client
        .as_ref()
        .filter(|c| !c.public)
        .and_then(|c| secrets::matching_client_secret(secret, c, now).map(|s| (c, s)))
    else {
        return Err(invalid("unknown client or wrong secret"));
    };
    state.secret_uses.note(state.store, &used.id, now);
    Ok(Claimed {
        client_id: client.client_id.clone(),
        subject: None,
        environment: client.environment.clone(),
        scope: client.default_scopes.join(" "),
        granted_at: i64::MAX,
        expires_at: None,
        resource: None,
    })
}

/// The request-time checks of docs/gateway.md, for the
/// gateway and forward-auth: the environment this gateway serves, then
/// [`standing`].
async fn check_now(state: &Verifier<'_>, policy: &Policy, c: Claimed, now: i64) -> Result<ForwardedIdentity, Refusal> {
    let serves = &policy.settings.gateway.environment;
    if &c.environment != serves {
        return Err(invalid(format!(
            "credentials of environment `{}`; this gateway serves `{serves}`",
            c.environment
        )));
    }
    let HeldNow { held, recheck_at } = match standing(state, policy, &c, now).await.map_err(unavailable)? {
        Standing::Holds(held) => held,
        Standing::Refused(why) => return Err(invalid(why)),
    };
    let catalog = &policy.catalog;
    let header =
        |s: &str| HeaderValue::from_str(s).map_err(|_| invalid("the credentials cannot be forwarded as a header"));
    Ok(ForwardedIdentity {
        client_id_value: header(&c.client_id)?,
        subject_value: c.subject.as_deref().map(header).transpose()?,
        scopes_value: header(&catalog.display(&catalog.normalize(held.set())))?,
        environment_value: header(&c.environment)?,
        client_id: c.client_id,
        resource: c.resource.map(String::into_boxed_str),
        held,
        valid_until: recheck_at,
    })
}

/// Where a credential stands now, whichever front end asks.
#[derive(Debug)]
pub enum Standing {
    /// What it holds now, closed under implication (possibly nothing).
    Holds(HeldNow),
    /// It answers for nothing any more, and why.
    Refused(&'static str),
}

/// The one request-time check (docs/gateway.md, "What is checked on every
/// request") that the gateway, forward-auth and introspection share: the app
/// still existing and assigned each scope, no revocation of the app's or the
/// user's tokens since the grant, the user still enabled and holding each
/// scope's `requires_permissions`, and each scope's `max_lifetime`.
pub async fn standing(state: &Verifier<'_>, policy: &Policy, c: &Claimed, now: i64) -> Result<Standing, StoreError> {
    let Some(client) = state.clients.get(state.store, &c.client_id, now).await? else {
        return Ok(Standing::Refused("the app was deleted"));
    };
    if revoked_by(client.tokens_revoked_before, c.granted_at) {
        return Ok(Standing::Refused("the token was revoked"));
    }
    let permissions = match &c.subject {
        None => None,
        Some(login) => match state.users.get(state.store, login, now).await? {
            Some(user) if revoked_by(user.tokens_revoked_before, c.granted_at) => {
                return Ok(Standing::Refused("the token was revoked"));
            }
            Some(user) if user.enabled => Some(user),
            _ => return Ok(Standing::Refused("the user is disabled or deleted")),
        },
    };
    let catalog = &policy.catalog;
    let assigned = catalog.close(&catalog.known(&client.scopes.join(" ")));
    Ok(Standing::Holds(policy.held_now(
        &catalog.known(&c.scope),
        Some(c.granted_at),
        c.expires_at,
        now,
        policy.settings.gateway.cache_ttl,
        |id| {
            assigned.contains(id)
                && permissions.as_ref().is_none_or(|user| {
                    catalog
                        .info(id)
                        .requires_permissions
                        .iter()
                        .all(|p| crate::operations::users::holds(user, &policy.settings.sign_in, now, p))
                })
        },
    )))
}

impl ForwardedIdentity {
    /// An identity as the header code sees it (its `held` is empty), for tests.
    #[doc(hidden)]
    pub fn for_tests(client_id: &str, subject: Option<&str>, scopes: &str, environment: &str) -> Self {
        let header = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"));
        Self {
            client_id: client_id.to_owned(),
            held: Held::default(),
            client_id_value: header(client_id),
            subject_value: subject.map(header),
            scopes_value: header(scopes),
            environment_value: header(environment),
            resource: None,
            valid_until: i64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn on_worker<T: Send + 'static>(index: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            crate::worker::set(index);
            f()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn each_worker_keeps_its_own_identities_and_a_revocation_forgets_them_all() {
        let cache = Arc::new(IdentityCache::default());
        let value = b"Bearer sgat_abc";
        for worker in 0..2 {
            let cache = Arc::clone(&cache);
            on_worker(worker, move || {
                assert!(cache.get(&cache.lookup(value), 0).is_none());
                cache.insert(
                    cache.lookup(value),
                    Arc::new(ForwardedIdentity::for_tests("app", None, "a", "production")),
                    cache.epoch(),
                );
                assert_eq!(cache.get(&cache.lookup(value), 0).unwrap().client_id, "app");
            });
        }
        let other = Arc::clone(&cache);
        assert!(
            on_worker(2, move || other.get(&other.lookup(value), 0).is_none()),
            "a third worker verifies for itself"
        );
        cache.clear();
        for worker in 0..2 {
            let cache = Arc::clone(&cache);
            assert!(on_worker(worker, move || cache.get(&cache.lookup(value), 0).is_none()));
        }
    }

    #[test]
    fn an_identity_past_its_valid_until_is_not_served() {
        let cache = IdentityCache::default();
        let mut identity = ForwardedIdentity::for_tests("app", None, "a", "production");
        identity.valid_until = 100;
        cache.insert(cache.lookup(b"Basic YTpi"), Arc::new(identity), cache.epoch());
        assert!(cache.get(&cache.lookup(b"Basic YTpi"), 99).is_some());
        assert!(cache.get(&cache.lookup(b"Basic YTpi"), 100).is_none());
    }

    #[test]
    fn a_revocation_during_verification_wins() {
        let cache = IdentityCache::default();
        let value = b"Bearer sgat_in_flight";
        // A verification starts, a revocation here clears the cache, the
        // verification ends with what it read before the revocation.
        let epoch = cache.epoch();
        cache.clear();
        cache.insert(
            cache.lookup(value),
            Arc::new(ForwardedIdentity::for_tests("app", None, "a", "production")),
            epoch,
        );
        assert!(
            cache.get(&cache.lookup(value), 0).is_none(),
            "the revoked identity was cached"
        );
        // One that started after the clear is kept.
        cache.insert(
            cache.lookup(value),
            Arc::new(ForwardedIdentity::for_tests("app", None, "a", "production")),
            cache.epoch(),
        );
        assert!(cache.get(&cache.lookup(value), 0).is_some());
    }

    fn jwt(header: &str, payload: &str, signature: &str) -> Vec<u8> {
        format!("Bearer {header}.{payload}.{signature}").into_bytes()
    }

    #[test]
    fn a_jwt_is_found_by_its_signature_but_only_with_the_header_and_payload_it_was_verified_with() {
        let cache = IdentityCache::default();
        let signature = "s".repeat(86);
        let verified = jwt("eyJh", "eyJp", &signature);
        cache.insert(
            cache.lookup(&verified),
            Arc::new(ForwardedIdentity::for_tests("app", None, "a", "production")),
            cache.epoch(),
        );
        assert_eq!(
            cache.lookup(&verified).key,
            cache.lookup(&jwt("eyJX", "eyJY", &signature)).key
        );
        assert!(cache.get(&cache.lookup(&verified), 0).is_some());
        for forged in [
            jwt("eyJX", "eyJp", &signature),
            jwt("eyJh", "eyJpX", &signature),
            jwt("eyJh", "eyJ", &signature),
        ] {
            assert!(
                cache.get(&cache.lookup(&forged), 0).is_none(),
                "{}",
                String::from_utf8_lossy(&forged)
            );
        }
        let other_signature = jwt("eyJh", "eyJp", &"t".repeat(86));
        assert!(cache.get(&cache.lookup(&other_signature), 0).is_none());
    }

    #[test]
    fn the_headers_and_payloads_kept_are_bounded_in_bytes() {
        let cache = IdentityCache::default();
        let payload = "p".repeat(1 << 20);
        let identity = Arc::new(ForwardedIdentity::for_tests("app", None, "a", "production"));
        let value = |n: usize| jwt("eyJh", &payload, &format!("{n:0>86}"));
        let first = value(0);
        cache.insert(cache.lookup(&first), Arc::clone(&identity), cache.epoch());
        cache.insert(cache.lookup(&first), Arc::clone(&identity), cache.epoch());
        let kept = cache.shard().read().unwrap().signed_bytes;
        assert_eq!(kept, first.len() - 87, "a value inserted again is counted once");
        for n in 1..=MAX_SIGNED_BYTES / kept {
            cache.insert(cache.lookup(&value(n)), Arc::clone(&identity), cache.epoch());
            assert!(cache.shard().read().unwrap().signed_bytes <= MAX_SIGNED_BYTES);
        }
        assert!(cache.get(&cache.lookup(&first), 0).is_none(), "the cache started over");
        assert!(cache.get(&cache.lookup(&value(MAX_SIGNED_BYTES / kept)), 0).is_some());
    }

    #[test]
    fn only_a_value_ending_in_a_long_signature_is_keyed_by_it() {
        let signature = "s".repeat(64);
        assert_eq!(
            jwt_signature(&jwt("a", "b", &signature)),
            Some((b"Bearer a.b".as_slice(), signature.as_bytes()))
        );
        assert_eq!(
            jwt_signature(&jwt("a", "b", &"s".repeat(63))),
            None,
            "too short to be a key"
        );
        assert_eq!(jwt_signature(format!("Bearer a.b.{signature}.x").as_bytes()), None);
        assert_eq!(jwt_signature(b"Bearer sgat_abc"), None);
    }
}
