//! scopegate's decisions inside your own service: a [`tower::Layer`] that any
//! axum or tower service wraps around its router. It reads the same policy
//! file as `scopegate serve`, checks JWT access tokens against the issuer's
//! JWKS (no network round trip per request) or opaque ones by RFC 7662
//! introspection (cached), and decides with the same core and the same
//! answers as the gateway (docs/gateway.md). It does not pull in a database.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use scopegate_layer::{Identity, ScopegateLayer};
//!
//! let policy = scopegate_core::Policy::compile("api.toml", &std::fs::read_to_string("api.toml")?)?;
//! let layer = ScopegateLayer::builder(policy)
//!     .jwks("http://127.0.0.1:8080/oauth2/jwks")?
//!     .introspection("http://127.0.0.1:8080/oauth2/introspect", "sgci_…", "sgcs_…")?
//!     .build();
//! let app: axum::Router = axum::Router::new()
//!     .route("/account/{*rest}", axum::routing::get(|id: axum::Extension<Identity>| async move {
//!         format!("hello {}", id.client_id)
//!     }))
//!     .layer(layer);
//! # Ok(()) }
//! ```
//!
//! An allowed request reaches the inner service with its path in canonical
//! form, the `X-Scopegate-*` identity headers (caller copies removed) and an
//! [`Identity`] request extension. A refused one never reaches it.

pub use scopegate_core::jwt;
mod remote;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use scopegate_core::admission::{Admission, Denial, admit};
use scopegate_core::enforce::{
    CLIENT_ID_HEADER, Credentials, ENVIRONMENT_HEADER, HeldNow, NARROW_HEADER, Refusal, SCOPES_HEADER, SUBJECT_HEADER,
    is_narrow_header, is_reserved_header, parse_authorization,
};
use scopegate_core::mcp::{METHOD_HEADER, NAME_HEADER};
use scopegate_core::mcp_call::McpCall;
use scopegate_core::{Held, Policy, ScopeSet};
use sha2::{Digest, Sha256};

use remote::{Introspection, Jwks, RemoteError};

/// Who an allowed request came from: a request extension for the inner service.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Identity {
    pub client_id: String,
    /// The user's login, for user tokens.
    pub subject: Option<String>,
    /// Normalized, after `X-OAuth-Scope`.
    pub scopes: Vec<String>,
    pub environment: String,
}

/// A bad URL given to the builder.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {url:?} is not an http:// or https:// URL")]
pub struct BadUrl {
    what: &'static str,
    url: String,
}

/// Builds a [`ScopegateLayer`]. Its `Debug` never shows the introspection
/// client's secret.
pub struct Builder {
    policy: Policy,
    jwks: Option<http::Uri>,
    introspection: Option<(http::Uri, String, String)>,
    cache_ttl: Duration,
    roots: Option<Arc<rustls::RootCertStore>>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("policy", &self.policy.file)
            .field("jwks", &self.jwks)
            .field(
                "introspection",
                &self
                    .introspection
                    .as_ref()
                    .map(|(url, client_id, _)| (url, client_id, "<redacted>")),
            )
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Verify JWT access tokens with the JWK Set at `url` (scopegate's
    /// `/oauth2/jwks`), fetched on first use and again when a token names a
    /// key it does not know (at most every few seconds).
    pub fn jwks(mut self, url: &str) -> Result<Self, BadUrl> {
        self.jwks = Some(parse_url("jwks", url)?);
        Ok(self)
    }

    /// Check opaque tokens (and JWTs, when no JWKS is set) by RFC 7662
    /// introspection, authenticating as this confidential client. Answers are
    /// cached for `cache_ttl`: the bound on how late a revocation is seen.
    pub fn introspection(mut self, url: &str, client_id: &str, client_secret: &str) -> Result<Self, BadUrl> {
        self.introspection = Some((
            parse_url("introspection", url)?,
            client_id.to_owned(),
            client_secret.to_owned(),
        ));
        Ok(self)
    }

    /// Trust these CA certificates (PEM) for `https://` JWKS and introspection
    /// URLs, instead of the system's roots (or `SSL_CERT_FILE`).
    pub fn tls_roots_pem(mut self, pem: &[u8]) -> Result<Self, tls::TlsError> {
        self.roots = Some(tls::roots_from_pem(pem)?);
        Ok(self)
    }

    /// How long a checked token is trusted (default: the policy's `gateway.cache_ttl`).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    pub fn build(self) -> ScopegateLayer {
        let client = remote::client(self.roots);
        ScopegateLayer {
            shared: Arc::new(Shared {
                policy: self.policy,
                jwks: self.jwks.map(|url| Jwks::new(url, client.clone())),
                introspection: self
                    .introspection
                    .map(|(url, id, secret)| Introspection::new(url, &id, &secret, client)),
                cache_ttl: self.cache_ttl,
                cache: RwLock::default(),
            }),
        }
    }
}

fn parse_url(what: &'static str, url: &str) -> Result<http::Uri, BadUrl> {
    let bad = || BadUrl {
        what,
        url: url.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(bad());
    }
    Ok(uri)
}

/// The layer: clone it freely, every clone shares one cache.
#[derive(Clone, Debug)]
pub struct ScopegateLayer {
    shared: Arc<Shared>,
}

impl ScopegateLayer {
    pub fn builder(policy: Policy) -> Builder {
        let cache_ttl = policy.settings.gateway.cache_ttl;
        Builder {
            policy,
            jwks: None,
            introspection: None,
            cache_ttl,
            roots: None,
        }
    }
}

impl<S> tower::Layer<S> for ScopegateLayer {
    type Service = Scopegate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Scopegate {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`ScopegateLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct Scopegate<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// Past this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
struct Checked {
    identity: Identity,
    held: Held,
    /// The resource (RFC 8707) the token is for.
    resource: Option<String>,
    /// Unix time from which the token must be checked again.
    valid_until: i64,
}

#[derive(Debug)]
struct Shared {
    policy: Policy,
    jwks: Option<Jwks>,
    introspection: Option<Introspection>,
    cache_ttl: Duration,
    cache: RwLock<HashMap<[u8; 32], Arc<Checked>>>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What a token said, before the policy's request-time checks.
struct Claimed {
    client_id: String,
    subject: Option<String>,
    environment: Option<String>,
    scope: String,
    granted_at: Option<i64>,
    expires_at: Option<i64>,
    /// The resource (RFC 8707) the token is for.
    resource: Option<String>,
}

impl Shared {
    /// The decision sequence of [`scopegate_core::admission`], on `request`:
    /// `Ok` with the request rewritten for the inner service, or the
    /// refusal. An MCP request's body is read (up to the policy's
    /// `gateway.max_body_bytes`) and checked against its headers first.
    async fn authorize<B>(&self, request: Request<B>) -> Result<(Request<B>, Option<ListFilter>), Denial>
    where
        B: http_body::Body + From<bytes::Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let policy = &self.policy;
        let target = request.uri().path_and_query().map_or("", |pq| pq.as_str()).to_owned();
        let (mut request, body) = if policy.is_mcp_target(request.method().as_str(), &target) {
            let (parts, body) = request.into_parts();
            let bytes = read_body(body, policy.settings.gateway.max_body_bytes)
                .await
                .map_err(Denial::unrouted)?;
            (Request::from_parts(parts, B::from(bytes.clone())), Some(bytes))
        } else {
            (request, None)
        };
        let headers = request.headers();
        let call = body
            .as_deref()
            .map(|body| {
                McpCall::from_body(
                    body,
                    headers.get_all(METHOD_HEADER).iter().map(HeaderValue::as_bytes),
                    headers.get_all(NAME_HEADER).iter().map(HeaderValue::as_bytes),
                )
            })
            .transpose()
            .map_err(Denial::unrouted)?;
        let admission = admit(
            policy,
            request.method().as_str(),
            &target,
            call.as_ref(),
            headers.get_all(header::AUTHORIZATION).iter().map(HeaderValue::as_bytes),
        )?;
        let unverified = match admission {
            Admission::Open(allowed) => {
                let canonical = allowed.target.to_string();
                let filter = ListFilter::of(call.as_ref(), None);
                drop(call);
                prepare(&mut request, &canonical, None);
                return Ok((request, filter));
            }
            Admission::Verify(unverified) => unverified,
        };
        let token = match parse_authorization(unverified.authorization, false).map_err(|r| unverified.deny(r))? {
            Credentials::Bearer(token) => token,
            Credentials::None | Credentials::Basic { .. } => {
                return Err(unverified.deny(Refusal::InvalidToken("HTTP Basic is not accepted here".into())));
            }
        };
        let checked = self.check(token).await.map_err(|r| unverified.deny(r))?;
        let allowed = unverified.conclude(
            policy,
            &checked.held,
            checked.resource.as_deref(),
            headers.get_all(NARROW_HEADER).iter().map(HeaderValue::as_bytes),
        )?;
        let mut identity = checked.identity.clone();
        if let Some(narrowed) = &allowed.narrowed {
            identity.scopes = scope_names(policy, narrowed.set());
        }
        let canonical = allowed.target.to_string();
        let held = allowed.narrowed.clone().unwrap_or_else(|| checked.held.clone());
        let filter = ListFilter::of(call.as_ref(), Some(held));
        drop(call);
        prepare(&mut request, &canonical, Some(identity));
        Ok((request, filter))
    }

    /// The token's identity, from the cache or checked now.
    async fn check(&self, token: &str) -> Result<Arc<Checked>, Refusal> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = unix_now();
        if let Some(hit) = self.cache.read().ok().and_then(|c| c.get(&key).cloned())
            && now < hit.valid_until
        {
            return Ok(hit);
        }
        let claimed = self.claimed(token, now).await.map_err(|e| match e {
            RemoteError::Refused(why) => Refusal::InvalidToken(why),
            RemoteError::Unavailable(why) => {
                tracing::warn!(error = %why, "scopegate-layer cannot check a token");
                Refusal::Unavailable { detail: why }
            }
        })?;
        let checked = Arc::new(self.check_now(claimed, now)?);
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(key, Arc::clone(&checked));
        }
        Ok(checked)
    }

    async fn claimed(&self, token: &str, now: i64) -> Result<Claimed, RemoteError> {
        let issuer = &self.policy.settings.issuer;
        if let (true, Some(jwks)) = (jwt::looks_like_jwt(token), &self.jwks) {
            let c = jwks.verify(token, issuer, &self.policy.audiences(), now).await?;
            return Ok(Claimed {
                resource: c.resource().map(str::to_owned),
                subject: (c.sub != c.client_id).then(|| c.sub.clone()),
                client_id: c.client_id,
                environment: Some(c.env),
                scope: c.scope,
                granted_at: c.granted_at.or(Some(c.iat)),
                expires_at: Some(c.exp),
            });
        }
        let Some(introspection) = &self.introspection else {
            return Err(RemoteError::Refused(
                "opaque tokens need introspection, which this service does not have".into(),
            ));
        };
        let answer = introspection.introspect(token).await?;
        if answer["active"] != true {
            return Err(RemoteError::Refused("the token is not active".into()));
        }
        let text = |k: &str| answer[k].as_str().map(str::to_owned);
        Ok(Claimed {
            client_id: text("client_id").unwrap_or_default(),
            subject: text("username"),
            environment: text("environment"),
            scope: text("scope").unwrap_or_default(),
            granted_at: None,
            expires_at: answer["exp"].as_i64(),
            resource: text("aud").filter(|aud| aud != issuer),
        })
    }

    /// The checks a token's own claims allow without a store: environment,
    /// expiry, `max_lifetime`.
    fn check_now(&self, c: Claimed, now: i64) -> Result<Checked, Refusal> {
        let policy = &self.policy;
        let serves = &policy.settings.gateway.environment;
        let environment = c.environment.unwrap_or_else(|| serves.clone());
        if &environment != serves {
            return Err(Refusal::InvalidToken(format!(
                "credentials of environment `{environment}`; this service serves `{serves}`"
            )));
        }
        if c.expires_at.is_some_and(|exp| exp <= now) {
            return Err(Refusal::InvalidToken("the token has expired".into()));
        }
        let HeldNow { held, recheck_at } = policy.held_now(
            &policy.catalog.known(&c.scope),
            c.granted_at,
            c.expires_at,
            now,
            self.cache_ttl,
            |_| true,
        );
        Ok(Checked {
            identity: Identity {
                client_id: c.client_id,
                subject: c.subject,
                scopes: scope_names(policy, held.set()),
                environment,
            },
            held,
            resource: c.resource,
            valid_until: recheck_at,
        })
    }
}

fn scope_names(policy: &Policy, held: &ScopeSet) -> Vec<String> {
    policy
        .catalog
        .names(&policy.catalog.normalize(held))
        .map(str::to_owned)
        .collect()
}

/// Removes every header the caller may not set: any spelling of an
/// `X-Scopegate-*` identity header, and `X-OAuth-Scope`. Run before ours are
/// added (here and in the gateway), so nothing a caller sends reaches the
/// service as identity.
pub fn remove_caller_scopegate_headers(headers: &mut http::HeaderMap) {
    let theirs: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_reserved_header(n.as_str()) || is_narrow_header(n.as_str()))
        .cloned()
        .collect();
    for name in theirs {
        headers.remove(name);
    }
}

/// Rewrites an allowed request for the inner service: canonical path, caller
/// copies of scopegate's headers and `X-OAuth-Scope` removed, ours added.
fn prepare<B>(request: &mut Request<B>, canonical: &str, identity: Option<Identity>) {
    if let Ok(uri) = canonical.parse::<http::Uri>() {
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = uri.path_and_query().cloned();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    let headers = request.headers_mut();
    remove_caller_scopegate_headers(headers);
    let Some(identity) = identity else { return };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(CLIENT_ID_HEADER, &identity.client_id);
    if let Some(subject) = &identity.subject {
        set(SUBJECT_HEADER, subject);
    }
    set(SCOPES_HEADER, &identity.scopes.join(" "));
    set(ENVIRONMENT_HEADER, &identity.environment);
    request.extensions_mut().insert(identity);
}

/// An MCP list answer to filter: the list method, and what the caller holds
/// (`None`: an anonymous caller on an open route).
#[derive(Debug)]
struct ListFilter {
    list: String,
    held: Option<Held>,
}

impl ListFilter {
    fn of(call: Option<&McpCall<'_>>, held: Option<Held>) -> Option<ListFilter> {
        let call = call?;
        scopegate_core::mcp_list::list_of(&call.method)?;
        Some(ListFilter {
            list: call.method.to_string(),
            held,
        })
    }

    /// The inner service's answer with only the entries the caller may call;
    /// a 502 when it cannot be read (it must not pass unfiltered).
    async fn apply<B>(&self, policy: &Policy, response: Response<B>) -> Response<B>
    where
        B: http_body::Body + From<bytes::Bytes> + From<String>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use http_body_util::BodyExt;
        if !response.status().is_success() {
            return response;
        }
        let media = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        let event_stream = match media.as_deref() {
            Some("application/json") => false,
            Some("text/event-stream") => true,
            _ => return bad_list(),
        };
        let (mut parts, body) = response.into_parts();
        let limit = usize::try_from(policy.settings.gateway.max_body_bytes).unwrap_or(usize::MAX);
        let Ok(collected) = http_body_util::Limited::new(body, limit).collect().await else {
            return bad_list();
        };
        let caller = self
            .held
            .as_ref()
            .map_or(scopegate_core::Caller::Anonymous, scopegate_core::Caller::Client);
        match policy.filter_list_answer(&self.list, &collected.to_bytes(), event_stream, caller) {
            Ok(filtered) => {
                parts.headers.remove(header::CONTENT_LENGTH);
                parts
                    .headers
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
                Response::from_parts(parts, B::from(bytes::Bytes::from(filtered)))
            }
            Err(_) => bad_list(),
        }
    }
}

/// 502: a list answer that could not be read, and so is not passed on.
fn bad_list<B: From<String>>() -> Response<B> {
    let body = serde_json::json!({
        "error": "bad_gateway",
        "error_description": "the MCP server's answer to a list method could not be read as JSON-RPC, so it was not passed on",
    });
    let mut response = Response::new(B::from(body.to_string()));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A body read whole, up to `limit` bytes (413 past it).
async fn read_body<B>(body: B, limit: u64) -> Result<bytes::Bytes, Refusal>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(Refusal::TooLarge(limit)),
        Err(e) => Err(Refusal::InvalidRequest(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// A refusal as an HTTP response: status, `WWW-Authenticate`, JSON body,
/// `Cache-Control: no-store`. The gateway answers with it too.
pub fn refusal_response<B: From<String>>(policy: &Policy, denial: &Denial) -> Response<B> {
    let answer = denial.answer(policy);
    let mut response = Response::new(B::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::FORBIDDEN);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(challenge) = answer.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(seconds) = answer.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Scopegate<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body + From<bytes::Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: http_body::Body + From<String> + From<bytes::Bytes> + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            match shared.authorize(request).await {
                Ok((request, None)) => inner.call(request).await,
                Ok((request, Some(filter))) => {
                    let response = inner.call(request).await?;
                    Ok(filter.apply(&shared.policy, response).await)
                }
                Err(denial) => Ok(refusal_response(&shared.policy, &denial)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ScopegateLayer;

    const SECRET: &str = "sgcs_never_printed";

    fn builder() -> super::Builder {
        let policy = scopegate_core::Policy::compile("p.toml", "").unwrap();
        ScopegateLayer::builder(policy)
            .introspection("http://127.0.0.1:8080/oauth2/introspect", "sgci_app", SECRET)
            .unwrap()
    }

    #[test]
    fn the_builder_never_prints_the_introspection_secret() {
        let printed = format!("{:?}", builder());
        assert!(printed.contains("sgci_app"), "{printed}");
        assert!(!printed.contains(SECRET), "{printed}");
    }

    #[test]
    fn the_introspection_client_never_prints_its_credentials() {
        // The built layer holds the introspection client (and its Basic header).
        let printed = format!("{:?}", builder().build());
        assert!(printed.contains("Introspection"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(!printed.contains(SECRET), "{printed}");
        // Nor the secret's base64 inside `Basic …`.
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("sgci_app:{SECRET}"));
        assert!(!printed.contains(&encoded), "{printed}");
    }
}
