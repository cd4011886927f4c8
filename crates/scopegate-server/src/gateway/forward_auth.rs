//! `/authz`: the forward-auth decision endpoint for nginx `auth_request`,
//! Traefik ForwardAuth and Envoy `ext_authz` (HTTP). Same decision path as the
//! reverse proxy; answers 200 with the identity headers, or the refusal.
//! Nothing here is proxied, and bad input is never a 5xx: it fails closed.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use scopegate_core::enforce::{ForwardedHeaders, original_request};
use scopegate_store::Store;

use super::fields::Fields;
use super::identity::{AuthError, Identity};
use super::{Denied, authorize, headers, record, record_pass, refusal_reason, refusal_response};
use crate::paths;
use crate::state::{AppState, Generation};

// Built at compile time: a `&str` key is parsed on every lookup.
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

pub async fn forward_auth<S: Store>(State(state): State<AppState<S>>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let generation = state.live.load_full();
    let raw = request.uri().path_and_query().map_or("", |pq| pq.as_str());
    answer(
        &state,
        &generation,
        started,
        request.method().as_str(),
        raw,
        request.headers(),
    )
    .await
    .into_response()
}

/// What `/authz` answers.
#[derive(Debug)]
pub enum Verdict {
    /// 200 with the identity headers (none on a `require = "none"` route).
    Allow {
        identity: Option<Arc<Identity>>,
        narrowed_scopes: Option<HeaderValue>,
    },
    /// The refusal, as the gateway would answer it.
    Refuse(Response<Body>),
}

impl Verdict {
    pub fn into_response(self) -> Response<Body> {
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

/// The answer to the forward-auth request `method raw` (the request target
/// as sent, `/authz…`), from hyper or the fast path.
pub async fn answer<S: Store, H: Fields + Sync + ?Sized>(
    state: &AppState<S>,
    generation: &Generation,
    started: Instant,
    request_method: &str,
    raw: &str,
    headers: &H,
) -> Verdict {
    // Envoy puts the original path after the prefix; the rest is the
    // original query. `/authz` alone (with or without a query) carries none.
    let after = raw.strip_prefix(paths::AUTHZ).filter(|rest| rest.starts_with('/'));
    let forwarded = ForwardedHeaders {
        forwarded_method: headers.text(&X_FORWARDED_METHOD),
        forwarded_uri: headers.text(&X_FORWARDED_URI),
        original_method: headers.text(&X_ORIGINAL_METHOD),
        original_uri: headers.text(&X_ORIGINAL_URI),
    };
    let (method, target) = match original_request(request_method, after, forwarded) {
        Ok(found) => found,
        Err(refusal) => {
            let denied = Denied {
                route: None,
                why: AuthError::Refused(refusal),
            };
            let why = refusal_reason(&denied);
            record(
                generation,
                request_method,
                paths::AUTHZ,
                None,
                denied.outcome(),
                started,
                None,
                why.as_deref(),
            );
            return Verdict::Refuse(refusal_response(generation, &denied));
        }
    };
    let path = target.split('?').next().unwrap_or(target);
    match authorize(state, generation, method, target, headers).await {
        Ok(pass) => {
            record_pass(generation, method, &pass, "allow", started);
            Verdict::Allow {
                identity: pass.identity,
                narrowed_scopes: pass.narrowed_scopes,
            }
        }
        Err(denied) => {
            let why = refusal_reason(&denied);
            record(
                generation,
                method,
                path,
                denied.route,
                denied.outcome(),
                started,
                None,
                why.as_deref(),
            );
            Verdict::Refuse(refusal_response(generation, &denied))
        }
    }
}
