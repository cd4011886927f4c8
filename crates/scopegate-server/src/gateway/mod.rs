//! Enforcement: the reverse proxy (every path that is not scopegate's own) and
//! the forward-auth endpoint, on the decision sequence of
//! [`scopegate_core::admission`] ([`authorize`]): the core admits the request
//! (path, route, the anonymous decision, the one `Authorization` value),
//! [`scopegate_service::identification`] verifies the credentials (cache, else store or
//! signature, and the request-time checks), and the core concludes
//! (`X-OAuth-Scope`, the decision). Every refusal is answered and recorded by
//! [`refuse`].
//!
//! The upstream is contacted only after an allow.

pub(crate) mod fast;
pub(crate) mod forward_auth;
mod h1;
pub(crate) mod headers;
mod mcp;

use scopegate_core::Outcome;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, Version, header};
use scopegate_core::RouteId;
use scopegate_core::admission::{Admission, Allowed, Denial, admit};
use scopegate_core::enforce::{NARROW_HEADER, Refusal, one_host};
use scopegate_core::mcp_call::McpCall;

use crate::http::address::ClientAddress;
use crate::http::fields::Fields;
use crate::http::limits::address_key;
use crate::state::{AppState, Generation};
use crate::upstream;
use scopegate_service::identification::{ForwardedIdentity, identify};

/// An allowed request, with what the upstream learns of its caller.
#[derive(Debug)]
pub(crate) struct Pass<'t> {
    pub allowed: Allowed<'t>,
    /// `None` on a `require = "none"` route: credentials were not read.
    pub identity: Option<Arc<ForwardedIdentity>>,
    /// The scopes header after `X-OAuth-Scope` narrowed them.
    pub narrowed_scopes: Option<HeaderValue>,
}

const AUTHORIZATION: HeaderName = header::AUTHORIZATION;
const NARROW: HeaderName = HeaderName::from_static(NARROW_HEADER);

/// The decision path of the gateway and forward-auth: may this caller do
/// `method target`, with these request headers? The core admits and
/// concludes ([`scopegate_core::admission`]); this identifies in between.
/// `peer` is the socket's peer, or `None` where it says nothing of the
/// client (then no per-address limit applies).
pub(crate) async fn authorize<'t, H: Fields + Sync + ?Sized>(
    state: &AppState,
    generation: &Generation,
    method: &str,
    target: &'t str,
    headers: &H,
    mcp: Option<&McpCall<'_>>,
    peer: Option<IpAddr>,
) -> Result<Pass<'t>, Refused> {
    let policy = &generation.policy;
    let unverified = match admit(policy, method, target, mcp, headers.values(&AUTHORIZATION))? {
        Admission::Open(allowed) => {
            return Ok(Pass {
                allowed,
                identity: None,
                narrowed_scopes: None,
            });
        }
        Admission::Verify(unverified) => unverified,
    };
    // Found only when needed: no address has failed, no lookup.
    let failures = &state.limits.gateway_failures_per_address;
    let address = || {
        ClientAddress::of(peer, headers, &policy.settings.trusted_proxies)
            .0
            .map(|a| address_key(Some(a)))
    };
    if !failures.is_empty()
        && let Some(address) = address()
        && let Err(retry) = failures.peek(&address)
    {
        if headers.values(&X_FORWARDED_FOR).next().is_some() {
            untrusted_proxy_warning(address);
        }
        return Err(unverified.deny(Refusal::Limited(retry)).into());
    }
    let identity = identify(
        &state.verifier(),
        policy,
        &generation.identities,
        unverified.authorization,
        state.now(),
    )
    .await
    .map_err(|refusal| {
        if matches!(refusal, Refusal::InvalidToken(_) | Refusal::InvalidBasic(_))
            && let Some(address) = address()
        {
            // Refused or not, the next one is stopped by the peek above.
            let _ = failures.take(&address);
        }
        unverified.deny(refusal)
    })?;
    let allowed = unverified
        .conclude(
            policy,
            &identity.held,
            identity.resource.as_deref(),
            headers.values(&NARROW),
        )
        .map_err(|denial| Refused {
            denial,
            client_id: Some(identity.client_id.clone()),
        })?;
    let narrowed_scopes = allowed
        .narrowed
        .as_ref()
        .and_then(|held| HeaderValue::from_str(&policy.catalog.display(&policy.catalog.normalize(held.set()))).ok());
    Ok(Pass {
        allowed,
        identity: Some(identity),
        narrowed_scopes,
    })
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// An address that is limited sends `X-Forwarded-For`: likely a proxy not
/// in `trusted_proxies`, whose clients now share one budget. Said at most
/// once a minute.
fn untrusted_proxy_warning(address: IpAddr) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            %address,
            "an address limited by limits.gateway_failures_per_address sends X-Forwarded-For: if it is a proxy, list it in trusted_proxies, or every client behind it shares its budget"
        );
    }
}

/// A refused request, and the app whose credentials were refused when they
/// were read far enough to tell (a 403, a token of another resource).
#[derive(Debug)]
pub(crate) struct Refused {
    pub denial: Denial,
    pub client_id: Option<String>,
}

impl From<Denial> for Refused {
    fn from(denial: Denial) -> Self {
        Self {
            denial,
            client_id: None,
        }
    }
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Denial::unrouted(refusal).into()
    }
}

/// The one place a refusal is answered and recorded, on every front end of
/// the server: logs and counts it (with the app, when known, and the
/// reason), and returns the answer.
pub(crate) fn refuse(
    generation: &Generation,
    method: &str,
    target: &str,
    refused: &Refused,
    started: Instant,
) -> Response<Body> {
    let Refused { denial, client_id } = refused;
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let reason = denial.refusal.reason(&generation.policy);
    record(
        generation,
        method,
        path,
        denial.route,
        denial.refusal.outcome(),
        started,
        client_id.as_deref(),
        Some(&reason),
    );
    scopegate_layer::refusal_response(&generation.policy, denial)
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
pub(crate) fn record(
    generation: &Generation,
    method: &str,
    path: &str,
    route: Option<RouteId>,
    outcome: Outcome,
    started: Instant,
    client_id: Option<&str>,
    why: Option<&str>,
) {
    let label = generation.metrics.label(route);
    tracing::info!(
        target: "scopegate::decision",
        method,
        path,
        route = label,
        outcome = outcome.as_str(),
        client_id = client_id.unwrap_or("-"),
        reason = why.unwrap_or("-"),
    );
    crate::http::traces::decision(method, path, label, outcome.as_str(), client_id, why, started);
    generation.metrics.record(route, outcome, started.elapsed());
}

/// Logs and counts a request the policy allowed, with `outcome` (`allow`, or
/// what happened after the allow) and the scope that allowed it.
pub(crate) fn record_pass(generation: &Generation, method: &str, pass: &Pass<'_>, outcome: Outcome, started: Instant) {
    record(
        generation,
        method,
        &pass.allowed.target.path,
        Some(pass.allowed.route),
        outcome,
        started,
        pass.identity.as_ref().map(|i| i.client_id.as_str()),
        Some(pass.allowed.reason(&generation.policy)),
    );
}

const MCP_METHOD: HeaderName = HeaderName::from_static(scopegate_core::mcp::METHOD_HEADER);
const MCP_NAME: HeaderName = HeaderName::from_static(scopegate_core::mcp::NAME_HEADER);

/// The reverse proxy: every path that is not scopegate's own.
pub(crate) async fn gateway(State(state): State<AppState>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let generation = state.live.load_full();
    let method = request.method().clone();
    // An authority-form target (CONNECT) has no path: admitted as none, refused.
    let raw_target = request
        .uri()
        .path_and_query()
        .map_or_else(String::new, |pq| pq.as_str().to_owned());
    if head_size(&request) > generation.policy.settings.gateway.max_header_bytes {
        record(
            &generation,
            method.as_str(),
            request.uri().path(),
            None,
            Outcome::TooLarge,
            started,
            None,
            None,
        );
        return upstream::error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            &format!(
                "the request head is larger than gateway.max_header_bytes ({} bytes)",
                generation.policy.settings.gateway.max_header_bytes
            ),
        );
    }
    let http11 = request.version() == Version::HTTP_11;
    if let Err(refusal) = one_host(http11, Fields::values(request.headers(), &header::HOST)) {
        return refuse(&generation, method.as_str(), &raw_target, &refusal.into(), started);
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let policy = &generation.policy;
    let (mut request, body) = if policy.is_mcp_target(method.as_str(), &raw_target) {
        match mcp::read(request, policy.settings.gateway.max_body_bytes).await {
            Ok((request, body)) => (request, Some(body)),
            Err(refusal) => {
                return refuse(&generation, method.as_str(), &raw_target, &refusal.into(), started);
            }
        }
    } else {
        (request, None)
    };
    let call = match body
        .as_deref()
        .map(|body| {
            McpCall::from_body(
                body,
                Fields::values(request.headers(), &MCP_METHOD),
                Fields::values(request.headers(), &MCP_NAME),
            )
        })
        .transpose()
    {
        Ok(call) => call,
        Err(refusal) => {
            return refuse(&generation, method.as_str(), &raw_target, &refusal.into(), started);
        }
    };
    let pass = match authorize(
        &state,
        &generation,
        method.as_str(),
        &raw_target,
        request.headers(),
        call.as_ref(),
        peer.map(|p| p.ip()),
    )
    .await
    {
        Ok(pass) => pass,
        Err(denial) => return refuse(&generation, method.as_str(), &raw_target, &denial, started),
    };
    headers::to_upstream(
        request.headers_mut(),
        &headers::Forwarded {
            identity: pass.identity.as_deref(),
            narrowed_scopes: pass.narrowed_scopes.clone(),
            peer,
            trusted: peer.is_some_and(|p| {
                scopegate_core::limits::is_trusted_proxy(p.ip(), &generation.policy.settings.trusted_proxies)
            }),
        },
    );
    // The canonical path and the query as sent.
    let path_and_query = pass.allowed.target.to_string();
    let (response, mut outcome) = generation.upstream.forward(request, &path_and_query).await;
    let list = call
        .as_ref()
        .and_then(|c| scopegate_core::mcp_list::list_of(&c.method).map(|_| c.method.clone()));
    let response = match list {
        Some(list) if outcome == Outcome::Allow => {
            let held = pass
                .allowed
                .narrowed
                .as_ref()
                .or(pass.identity.as_deref().map(|i| &i.held));
            let caller = held.map_or(scopegate_core::Caller::Anonymous, scopegate_core::Caller::Client);
            let limit = policy.settings.gateway.max_body_bytes;
            match mcp::filter_list(response, policy, &list, caller, limit).await {
                Ok(filtered) => filtered,
                Err(failure) => {
                    outcome = failure.outcome;
                    failure.response()
                }
            }
        }
        _ => response,
    };
    record_pass(&generation, method.as_str(), &pass, outcome, started);
    response
}
