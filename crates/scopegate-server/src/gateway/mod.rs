//! Enforcement: the reverse proxy (every path that is not scopegate's own) and
//! the forward-auth endpoint, on one decision path ([`authorize`]):
//!
//! 1. canonicalize the path and find the route (ambiguous: 400; none: 404,
//!    whatever the credentials; `require = "none"`: allowed, credentials unread);
//! 2. read the credentials (Bearer, or Basic where `basic_auth`);
//! 3. identify them (cache, else store or signature) and apply the
//!    request-time checks (environment, app, user permissions, `max_lifetime`);
//! 4. narrow by `X-OAuth-Scope`;
//! 5. decide with the core.
//!
//! The upstream is contacted only after an allow.

pub mod fast;
pub mod fields;
pub mod forward_auth;
mod h1;
pub mod headers;
pub mod identity;
mod pool;
pub mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use scopegate_core::enforce::{NARROW_HEADER, Refusal, authorization_value, narrow_request};
use scopegate_core::path::CanonicalTarget;
use scopegate_core::{Allowance, Caller, Decision, RouteId};
use scopegate_store::Store;

use crate::state::{AppState, Generation};
use fields::Fields;
use identity::{AuthError, Identity, identify};

/// An allowed request.
#[derive(Debug)]
pub struct Pass<'t> {
    pub route: RouteId,
    pub target: CanonicalTarget<'t>,
    /// `None` on a `require = "none"` route: credentials were not read.
    pub identity: Option<Arc<Identity>>,
    /// The scopes header after `X-OAuth-Scope` narrowed them.
    pub narrowed_scopes: Option<HeaderValue>,
    /// Why the core allowed it.
    pub because: Allowance,
}

impl Pass<'_> {
    /// The reason for the decision log: borrowed from the policy, no allocation.
    pub fn reason<'p>(&self, policy: &'p scopegate_core::Policy) -> &'p str {
        match self.because {
            Allowance::Open => "open route",
            Allowance::AnyClient => "any authenticated client",
            Allowance::Holds(id) => policy.catalog.name(id),
            Allowance::HoldsAll => "holds every scope listed",
        }
    }
}

/// A refused request, with its route when one matched (for metrics and logs).
#[derive(Debug)]
pub struct Denied {
    pub route: Option<RouteId>,
    pub why: AuthError,
}

impl Denied {
    fn new(route: Option<RouteId>, why: impl Into<AuthError>) -> Self {
        Self { route, why: why.into() }
    }

    pub fn outcome(&self) -> &'static str {
        match &self.why {
            AuthError::Refused(r) => r.outcome(),
            AuthError::Store(_) => "unavailable",
        }
    }
}

const AUTHORIZATION: HeaderName = header::AUTHORIZATION;
const NARROW: HeaderName = HeaderName::from_static(NARROW_HEADER);

/// The decision path shared by every front end: may this caller do
/// `method target`, with these request headers?
pub async fn authorize<'t, S: Store, H: Fields + Sync + ?Sized>(
    state: &AppState<S>,
    generation: &Generation,
    method: &str,
    target: &'t str,
    headers: &H,
) -> Result<Pass<'t>, Denied> {
    let policy = &generation.policy;
    let resolved = policy
        .resolve(method, target)
        .map_err(|e| Denied::new(None, Refusal::BadPath(e)))?;
    let route = match policy.decide_route(resolved.route, Caller::Anonymous) {
        Decision::Allow { route, because } => {
            return Ok(Pass {
                route,
                target: resolved.target,
                identity: None,
                narrowed_scopes: None,
                because,
            });
        }
        Decision::Unauthenticated { route } | Decision::InsufficientScope { route } => route,
        Decision::RouteNotFound | Decision::BadPath(_) => return Err(Denied::new(None, Refusal::RouteNotFound)),
    };
    let deny = |why: AuthError| Denied::new(Some(route), why);
    let Some(authorization) =
        authorization_value(headers.values(&AUTHORIZATION), resolved.target.query).map_err(|r| deny(r.into()))?
    else {
        return Err(deny(Refusal::Unauthenticated.into()));
    };
    let identity = identify(state, policy, &generation.identities, authorization, state.now())
        .await
        .map_err(deny)?;
    let narrowed = if headers.values(&NARROW).next().is_some() {
        let held =
            narrow_request(&policy.catalog, &identity.held, headers.values(&NARROW)).map_err(|r| deny(r.into()))?;
        Some(held)
    } else {
        None
    };
    let held = narrowed.as_ref().unwrap_or(&identity.held);
    match policy.decide_route(Some(route), Caller::Client(held)) {
        Decision::Allow { route, because } => {
            let narrowed_scopes = narrowed.as_ref().and_then(|held| {
                HeaderValue::from_str(&policy.catalog.display(&policy.catalog.normalize(held.set()))).ok()
            });
            Ok(Pass {
                route,
                target: resolved.target,
                identity: Some(identity),
                narrowed_scopes,
                because,
            })
        }
        _ => Err(deny(
            Refusal::InsufficientScope {
                route,
                held: held.clone(),
            }
            .into(),
        )),
    }
}

/// The HTTP answer to a refused request.
pub fn refusal_response(generation: &Generation, denied: &Denied) -> Response<Body> {
    match &denied.why {
        // The same answer the tower layer gives.
        AuthError::Refused(refusal) => scopegate_layer::refusal_response(&generation.policy, refusal),
        AuthError::Store(_) => {
            let mut response = proxy::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the credential store did not answer; try again",
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}

/// Request line and headers, in bytes, as a limit sees them.
fn head_size<B>(request: &Request<B>) -> usize {
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + target
        + request.method().as_str().len()
}

/// Logs a decision (never a credential or a query string) and counts it.
#[allow(clippy::too_many_arguments)]
pub fn record(
    generation: &Generation,
    method: &str,
    path: &str,
    route: Option<RouteId>,
    outcome: &str,
    started: Instant,
    client_id: Option<&str>,
    why: Option<&str>,
) {
    tracing::info!(
        target: "scopegate::decision",
        method,
        path,
        route = generation.metrics.label(route),
        outcome,
        client_id = client_id.unwrap_or("-"),
        reason = why.unwrap_or("-"),
    );
    generation.metrics.record(route, outcome, started.elapsed());
}

/// Logs and counts a request the policy allowed, with `outcome` (`allow`, or
/// what happened after the allow) and the scope that allowed it.
pub fn record_pass(generation: &Generation, method: &str, pass: &Pass<'_>, outcome: &str, started: Instant) {
    record(
        generation,
        method,
        &pass.target.path,
        Some(pass.route),
        outcome,
        started,
        pass.identity.as_ref().map(|i| i.client_id.as_str()),
        Some(pass.reason(&generation.policy)),
    );
}

fn refusal_reason(denied: &Denied) -> Option<String> {
    match &denied.why {
        AuthError::Refused(Refusal::InvalidToken(why) | Refusal::InvalidRequest(why)) => Some(why.clone()),
        AuthError::Refused(Refusal::BadPath(e)) => Some(e.to_string()),
        AuthError::Refused(_) => None,
        AuthError::Store(e) => Some(e.to_string()),
    }
}

/// The reverse proxy: every path that is not scopegate's own.
pub async fn gateway<S: Store>(State(state): State<AppState<S>>, mut request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let generation = state.live.load_full();
    let method = request.method().clone();
    let raw_target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    if head_size(&request) > generation.policy.settings.gateway.max_header_bytes {
        record(
            &generation,
            method.as_str(),
            request.uri().path(),
            None,
            "too_large",
            started,
            None,
            None,
        );
        return proxy::error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            &format!(
                "the request head is larger than gateway.max_header_bytes ({} bytes)",
                generation.policy.settings.gateway.max_header_bytes
            ),
        );
    }
    let decided = authorize(&state, &generation, method.as_str(), &raw_target, request.headers()).await;
    let pass = match decided {
        Ok(pass) => pass,
        Err(denied) => {
            let why = refusal_reason(&denied);
            record(
                &generation,
                method.as_str(),
                request.uri().path(),
                denied.route,
                denied.outcome(),
                started,
                None,
                why.as_deref(),
            );
            return refusal_response(&generation, &denied);
        }
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    headers::to_upstream(
        request.headers_mut(),
        &headers::Forwarded {
            identity: pass.identity.as_deref(),
            narrowed_scopes: pass.narrowed_scopes.clone(),
            peer,
        },
    );
    let path_and_query = match pass.target.query {
        Some(q) => format!("{}?{q}", pass.target.path),
        None => pass.target.path.clone().into_owned(),
    };
    let (response, outcome) = generation.upstream.forward(request, &path_and_query).await;
    record_pass(&generation, method.as_str(), &pass, outcome, started);
    response
}
