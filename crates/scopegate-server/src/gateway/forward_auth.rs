//! `/authz`: the forward-auth decision endpoint for nginx `auth_request`,
//! Traefik ForwardAuth and Envoy `ext_authz` (HTTP). Same decision path as the
//! reverse proxy; answers 200 with the identity headers, or the refusal.
//! Nothing here is proxied, and bad input is never a 5xx: it fails closed.

use scopegate_core::Outcome;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use scopegate_core::enforce::{ForwardedHeaders, Refusal, original_request};
use scopegate_core::mcp_call::McpCall;

use super::{authorize, headers, record_pass, refuse};
use crate::http::endpoints;
use crate::http::fields::{Fields, visible_ascii};
use crate::state::{AppState, Generation};
use scopegate_service::identification::ForwardedIdentity;

pub(crate) async fn forward_auth(State(state): State<AppState>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let generation = state.live.load_full();
    let raw = request.uri().path_and_query().map_or("", |pq| pq.as_str());
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    answer(
        &state,
        &generation,
        started,
        request.method().as_str(),
        raw,
        request.headers(),
        peer,
    )
    .await
    .into_response()
}

/// What `/authz` answers.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// 200 with the identity headers (none on a `require = "none"` route).
    Allow {
        identity: Option<Arc<ForwardedIdentity>>,
        narrowed_scopes: Option<HeaderValue>,
    },
    /// The refusal, as the gateway would answer it.
    Refuse(Response<Body>),
}

impl Verdict {
    pub(crate) fn into_response(self) -> Response<Body> {
        match self {
            Verdict::Allow {
                identity,
                narrowed_scopes,
            } => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::OK;
                if let Some(identity) = identity.as_deref() {
                    headers::insert_identity(response.headers_mut(), identity, narrowed_scopes);
                }
                response
            }
            Verdict::Refuse(response) => response,
        }
    }
}

const MCP_METHOD: axum::http::HeaderName = axum::http::HeaderName::from_static(scopegate_core::mcp::METHOD_HEADER);
const MCP_NAME: axum::http::HeaderName = axum::http::HeaderName::from_static(scopegate_core::mcp::NAME_HEADER);

/// The fields a forward-auth call may name the original request in, in
/// [`ForwardedHeaders`] order.
const ORIGINAL: [&str; 4] = [
    "x-forwarded-method",
    "x-forwarded-uri",
    "x-original-method",
    "x-original-uri",
];

/// Where the original request is: Traefik's or nginx's headers, or the path
/// after `/authz` (Envoy). Each of those headers, when present, is read
/// whole: repeated, or not text, it is refused, never read as absent or as
/// its first value. One pass over the fields finds all four.
fn original<'a, H: Fields + ?Sized>(
    request_method: &'a str,
    raw: &'a str,
    headers: &'a H,
) -> Result<(&'a str, &'a str), Refusal> {
    let mut found: [Option<&[u8]>; 4] = [None; 4];
    for (name, value) in headers.all() {
        // Their lengths: 18, 15, 17 and 14; most fields are none of these.
        if !matches!(name.len(), 14 | 15 | 17 | 18) {
            continue;
        }
        if let Some(i) = ORIGINAL.iter().position(|o| name.eq_ignore_ascii_case(o.as_bytes()))
            && found[i].replace(value).is_some()
        {
            return Err(Refusal::InvalidRequest(format!(
                "forward-auth: {} is repeated",
                ORIGINAL[i]
            )));
        }
    }
    let text = |i: usize| -> Result<Option<&'a str>, Refusal> {
        found[i]
            .map(|value| {
                visible_ascii(value)
                    .ok_or_else(|| Refusal::InvalidRequest(format!("forward-auth: {} is not ASCII text", ORIGINAL[i])))
            })
            .transpose()
    };
    // Envoy puts the original path after the prefix; the rest is the
    // original query. `/authz` alone (with or without a query) carries none.
    let after = raw.strip_prefix(endpoints::AUTHZ).filter(|rest| rest.starts_with('/'));
    let forwarded = ForwardedHeaders {
        forwarded_method: text(0)?,
        forwarded_uri: text(1)?,
        original_method: text(2)?,
        original_uri: text(3)?,
    };
    original_request(request_method, after, forwarded)
}

/// The answer to the forward-auth request `method raw` (the request target
/// as sent, `/authz…`), from hyper or the fast path.
pub(crate) async fn answer<H: Fields + Sync + ?Sized>(
    state: &AppState,
    generation: &Generation,
    started: Instant,
    request_method: &str,
    raw: &str,
    headers: &H,
    peer: Option<std::net::IpAddr>,
) -> Verdict {
    let (method, target) = match original(request_method, raw, headers) {
        Ok(found) => found,
        Err(refusal) => {
            return Verdict::Refuse(refuse(
                generation,
                request_method,
                endpoints::AUTHZ,
                &refusal.into(),
                started,
            ));
        }
    };
    // The peer of `/authz` is the proxy asking, never the client: only a
    // trusted proxy's X-Forwarded-For says who the client is. Without one,
    // counting failures per address would let any client lock out every
    // other behind the same proxy.
    let trusted = &generation.policy.settings.trusted_proxies;
    let peer = peer.filter(|p| scopegate_core::limits::is_trusted_proxy(*p, trusted));
    let policy = &generation.policy;
    // Forward-auth sees no body: an MCP request is decided on its headers.
    let call = if policy.is_mcp_target(method, target) {
        match McpCall::from_headers(headers.values(&MCP_METHOD), headers.values(&MCP_NAME)) {
            Ok(call) => Some(call),
            Err(refusal) => {
                return Verdict::Refuse(refuse(generation, method, target, &refusal.into(), started));
            }
        }
    } else {
        None
    };
    match authorize(state, generation, method, target, headers, call.as_ref(), peer).await {
        Ok(pass) => {
            record_pass(generation, method, &pass, Outcome::Allow, started);
            Verdict::Allow {
                identity: pass.identity,
                narrowed_scopes: pass.narrowed_scopes,
            }
        }
        Err(denial) => Verdict::Refuse(refuse(generation, method, target, &denial, started)),
    }
}
