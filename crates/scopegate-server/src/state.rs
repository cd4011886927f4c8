//! What every handler shares: the live policy generation, the store, the
//! clock, the signing keys, the batching writer and the record caches. No
//! globals.
//!
//! The policy can be replaced while serving (SIGHUP, file change). Everything
//! derived from one policy (compiled routes, scope ids, the credential cache,
//! the upstream client, metrics) lives in one [`Generation`], swapped as a
//! whole, and each request works on the one generation it started with.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use scopegate_core::Policy;
use scopegate_service::{Actor, AuditKind, Caches, Context, Revoked};
use scopegate_store::{AuditEvent, Database};

use crate::http::address::ClientAddress;
use crate::http::limits::Limits;
use crate::http::metrics::FeedStats;
use crate::http::metrics::Metrics;
use crate::upstream::UpstreamClient;
use scopegate_service::credentials::keys::Keys;
use scopegate_service::credentials::verified::VerifiedTokens;
use scopegate_service::identification::{IdentityCache, Verifier};
use scopegate_service::record_cache::{ClientCache, TokenCache, UserCache};
use scopegate_service::repeats::Repeats;
use scopegate_service::revocations::Revocations;
use scopegate_service::writer::Writer;

pub use scopegate_service::{Clock, system_clock};

/// One compiled policy and everything that depends on it.
#[derive(Debug)]
pub struct Generation {
    pub policy: Arc<Policy>,
    /// Credentials already verified under this policy.
    pub identities: IdentityCache,
    pub upstream: UpstreamClient,
    pub metrics: Metrics,
}

impl Generation {
    pub fn new(policy: Arc<Policy>) -> Self {
        let metrics = Metrics::new(&policy);
        Self::with_metrics(policy, metrics)
    }

    fn with_metrics(policy: Arc<Policy>, metrics: Metrics) -> Self {
        Self {
            identities: IdentityCache::default(),
            upstream: UpstreamClient::new(&policy.settings.gateway),
            policy,
            metrics,
        }
    }
}

pub struct AppState {
    /// The policy of this request: a snapshot of the live generation, taken
    /// by the [`Current`] extractor.
    pub policy: Arc<Policy>,
    pub live: Arc<ArcSwap<Generation>>,
    pub store: Database,
    pub clock: Clock,
    pub keys: Arc<Keys>,
    pub writer: Writer,
    pub clients: ClientCache,
    pub users: UserCache,
    pub tokens: TokenCache,
    /// Revoked JWTs, in memory.
    pub revocations: Revocations,
    pub verified: VerifiedTokens,
    /// This node's `[limits]`.
    pub limits: Arc<Limits>,
    /// How this node follows the change feed (for `/metrics`).
    pub feed: Arc<FeedStats>,
    /// Repeated failures being counted rather than written one by one.
    repeats: Repeats,
    /// The upstream OpenID Connect providers users sign in at.
    pub(crate) providers: Arc<crate::idp::Providers>,
    /// Client ID Metadata Documents read lately.
    pub(crate) documents: Arc<crate::documents::Documents>,
    /// When this node last recorded each client secret's use.
    pub secret_uses: Arc<scopegate_service::secret_uses::SecretUses>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("policy", &self.policy.file)
            .finish_non_exhaustive()
    }
}

impl Clone for AppState {
    fn clone(&self) -> Self {
        Self {
            policy: Arc::clone(&self.policy),
            live: Arc::clone(&self.live),
            store: self.store.clone(),
            clock: Arc::clone(&self.clock),
            keys: Arc::clone(&self.keys),
            writer: self.writer.clone(),
            clients: self.clients.clone(),
            users: self.users.clone(),
            tokens: self.tokens.clone(),
            revocations: self.revocations.clone(),
            verified: self.verified.clone(),
            limits: Arc::clone(&self.limits),
            feed: Arc::clone(&self.feed),
            repeats: self.repeats.clone(),
            providers: Arc::clone(&self.providers),
            documents: Arc::clone(&self.documents),
            secret_uses: Arc::clone(&self.secret_uses),
        }
    }
}

impl AppState {
    /// Builds the state and starts the writer tasks (needs a Tokio runtime).
    pub fn new(policy: Arc<Policy>, store: impl Into<Database>, clock: Clock, keys: Arc<Keys>) -> Self {
        let store: Database = store.into();
        let writer = Writer::start(store.clone());
        let limits = Arc::new(Limits::new(&policy.settings.limits));
        let revocations = Revocations::default();
        revocations.spawn_refresh(store.clone(), Arc::clone(&clock));
        let repeats = Repeats::default();
        spawn_repeat_summaries(repeats.clone(), writer.clone(), Arc::clone(&clock));
        let providers = Arc::new(crate::idp::Providers::default());
        providers.start_all(&policy);
        Self {
            providers,
            documents: Arc::default(),
            secret_uses: Arc::default(),
            repeats,
            live: Arc::new(ArcSwap::from_pointee(Generation::new(Arc::clone(&policy)))),
            policy,
            store,
            clock,
            keys,
            writer,
            clients: ClientCache::default(),
            users: UserCache::default(),
            tokens: TokenCache::default(),
            revocations,
            verified: VerifiedTokens::default(),
            limits,
            feed: Arc::default(),
        }
    }

    /// Swaps in a new policy (already compiled, hence valid). Requests in
    /// flight finish on the generation they started with.
    pub fn install(&self, policy: Arc<Policy>) {
        let old = self.live.load();
        let metrics = old.metrics.succeed(&policy);
        metrics.reload_result(true);
        self.live.store(Arc::new(Generation::with_metrics(policy, metrics)));
    }

    /// Counts a reload refused because the new policy was invalid.
    pub fn reload_refused(&self) {
        self.live.load().metrics.reload_result(false);
    }

    /// This state with the live policy.
    pub fn current(&self) -> Self {
        let mut state = self.clone();
        state.policy = Arc::clone(&self.live.load().policy);
        state
    }

    /// Forgets every verified credential: a token or grant was revoked here.
    pub fn forget_credentials(&self) {
        self.live.load().identities.clear();
        self.tokens.clear();
    }

    /// This process revoked a grant (all its tokens, JWTs included).
    pub fn revoked_grant(&self, grant_id: &str) {
        self.revocations.add(&format!("gid:{grant_id}"));
        self.forget_credentials();
    }

    /// This process revoked one JWT.
    pub fn revoked_jwt(&self, jti: &str) {
        self.revocations.add(&format!("jti:{jti}"));
        self.forget_credentials();
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The surroundings of a service operation made by `actor` on this
    /// request's policy, keeping this node's caches true.
    pub fn service<'a>(&'a self, actor: &'a Actor) -> Context<'a, Database> {
        Context {
            store: &self.store,
            policy: &self.policy,
            now: self.now(),
            actor,
            caches: self,
        }
    }

    /// What credentials are verified against.
    pub fn verifier(&self) -> Verifier<'_> {
        Verifier {
            store: &self.store,
            keys: &self.keys,
            revocations: &self.revocations,
            clients: &self.clients,
            users: &self.users,
            secret_uses: &self.secret_uses,
        }
    }

    /// Records an audit event off the request path (batched by the writer).
    pub fn audit(&self, event: AuditKind, client_id: Option<&str>, subject: Option<&str>, detail: String) {
        self.writer.audit(self.audit_event(event, client_id, subject, detail));
    }

    /// Records a failure from `source` (an address), unless the same failure
    /// from there was already written in the last minute: then it is counted,
    /// and one event later says how many more there were ([`scopegate_service::repeats`]).
    pub fn audit_repeated(
        &self,
        event: AuditKind,
        client_id: Option<&str>,
        subject: Option<&str>,
        source: &str,
        detail: String,
    ) {
        let e = self.audit_event(event, client_id, subject, detail);
        if self.repeats.first(source, &e) {
            self.writer.audit(e);
        }
    }

    /// An audit event stamped now, and logged.
    pub fn audit_event(
        &self,
        event: AuditKind,
        client_id: Option<&str>,
        subject: Option<&str>,
        detail: String,
    ) -> AuditEvent {
        scopegate_service::audit::event(self.now(), event, client_id, subject, detail)
    }
}

impl Caches for AppState {
    fn writer(&self) -> Option<&Writer> {
        Some(&self.writer)
    }

    fn forget_client(&self, client_id: &str) {
        self.clients.forget(client_id);
    }

    fn forget_user(&self, login: &str) {
        self.users.forget(login);
    }

    fn forget_token(&self, hash: &[u8]) {
        self.tokens.forget_hash(hash);
    }

    fn forget_credentials(&self) {
        AppState::forget_credentials(self);
    }

    fn revoked(&self, what: Revoked<'_>) {
        match what {
            Revoked::Grant(grant_id) => self.revoked_grant(grant_id),
            Revoked::Jwt(jti) => self.revoked_jwt(jti),
        }
    }

    fn reload_revocations(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if let Err(e) = self.revocations.reload(&self.store, self.now()).await {
                tracing::warn!(error = %e, "cannot reload revocations after a grant was revoked");
            }
        })
    }
}

/// Writes the summaries of repeated failures as their windows pass.
fn spawn_repeat_summaries(repeats: Repeats, writer: Writer, clock: Clock) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            for summary in repeats.due(clock()) {
                writer.audit(summary);
            }
        }
    });
}

/// The app state with the policy that is live when the request arrives.
/// Handlers take this rather than `State`, so that one request never mixes
/// two policies.
#[derive(Debug)]
pub struct Current(pub AppState);

impl FromRequestParts<AppState> for Current {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Current(state.current()))
    }
}

/// The caller's address, as the live policy's `trusted_proxies` reads it.
impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let generation = state.live.load();
        Ok(Self::of(
            peer,
            &parts.headers,
            &generation.policy.settings.trusted_proxies,
        ))
    }
}
