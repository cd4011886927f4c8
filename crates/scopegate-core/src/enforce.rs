//! The enforcement rules of docs/gateway.md as pure functions, shared by the
//! reverse proxy, the forward-auth endpoint and the tower layer: reading the
//! credentials of an API request, narrowing by `X-OAuth-Scope`, finding the
//! original request of a forward-auth call, and the exact shape of every
//! refusal (status, `WWW-Authenticate`, JSON body). What a credential *is*
//! (a token in the store, a JWT, an app's key) is the caller's business.

use crate::catalog::{Catalog, Held};
use crate::decision::Outcome;
use crate::path::PathError;
use crate::policy::Policy;
use crate::route::{Requirement, RouteId};
use crate::scope::split_scope_list;
use crate::scopeset::{ScopeId, ScopeSet};

/// The realm of every `WWW-Authenticate` challenge.
pub const REALM: &str = "scopegate";

/// Identity headers the upstream receives (docs/gateway.md), lower case.
pub const CLIENT_ID_HEADER: &str = "x-scopegate-client-id";
pub const SUBJECT_HEADER: &str = "x-scopegate-subject";
pub const SCOPES_HEADER: &str = "x-scopegate-scopes";
pub const ENVIRONMENT_HEADER: &str = "x-scopegate-environment";
/// Narrows the effective scope of one request; never forwarded.
pub const NARROW_HEADER: &str = "x-oauth-scope";

/// Whether a header name is in scopegate's namespace in any spelling
/// (`X-Scopegate-Scopes`, `x_scopegate_scopes`, `X-SCOPEGATE_SCOPES`): callers'
/// copies of these are removed before anything reaches the upstream, so the
/// upstream can trust every `x-scopegate-*` header it sees.
pub fn is_reserved_header(name: impl AsRef<[u8]>) -> bool {
    const PREFIX: &[u8] = b"x-scopegate-";
    let name = name.as_ref();
    name.len() > PREFIX.len()
        && name[..PREFIX.len()]
            .iter()
            .zip(PREFIX)
            .all(|(&b, &p)| b.to_ascii_lowercase() == p || (b == b'_' && p == b'-'))
}

/// Whether a header name is `X-OAuth-Scope` in any spelling.
pub fn is_narrow_header(name: impl AsRef<[u8]>) -> bool {
    let name = name.as_ref();
    name.len() == NARROW_HEADER.len()
        && name
            .iter()
            .zip(NARROW_HEADER.as_bytes())
            .all(|(&b, &p)| b.to_ascii_lowercase() == p || (b == b'_' && p == b'-'))
}

/// Credentials of an API request, as presented. Its `Debug` never shows a
/// token or a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials<'a> {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: Basic` with an app's `client_id:client_secret`.
    Basic {
        client_id: String,
        secret: String,
    },
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::Basic { client_id, .. } => f
                .debug_struct("Basic")
                .field("client_id", client_id)
                .field("secret", &"<redacted>")
                .finish(),
        }
    }
}

/// Why a request is refused. Each variant knows its answer ([`Refusal::answer`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Refusal {
    /// 400: the path is ambiguous.
    BadPath(PathError),
    /// 400 `invalid_request`: malformed in a way that is not about the token.
    InvalidRequest(String),
    /// 414: the path or the query is longer than the gateway takes.
    UriTooLong(String),
    /// 404: no route matches.
    RouteNotFound,
    /// 401 without `error`: the route needs credentials and none came.
    Unauthenticated,
    /// 401 `invalid_token`: credentials came and are bad, expired, revoked or
    /// of another environment. The reason goes in the body, never the header.
    InvalidToken(String),
    /// 401 `invalid_token` for HTTP Basic credentials that were refused: the
    /// answer also challenges for Basic (RFC 9110 section 11.6.1).
    InvalidBasic(String),
    /// 403 `insufficient_scope`: the caller lacks what the route requires.
    InsufficientScope { route: RouteId, held: Held },
    /// 403 `insufficient_scope`: `X-OAuth-Scope` names scopes not held.
    NarrowBeyondHeld { missing: ScopeSet, held: Held },
    /// 503 `temporarily_unavailable`: what the credentials are checked
    /// against did not answer. Fails closed, and says it is not the caller's
    /// fault. `detail` is for the log only, never the answer.
    Unavailable { detail: String },
    /// 429 `rate_limited`: this address failed to authenticate too often
    /// (`limits.gateway_failures_per_address`).
    Limited(crate::limits::RetryAfter),
    /// 413 `request_too_large`: a body that must be read to decide (an MCP
    /// request's) is larger than `gateway.max_body_bytes`, this many bytes.
    TooLarge(u64),
}

impl Refusal {
    /// A short stable name for logs and metric labels.
    pub fn outcome(&self) -> Outcome {
        match self {
            Refusal::BadPath(_) => Outcome::BadPath,
            Refusal::InvalidRequest(_) => Outcome::InvalidRequest,
            Refusal::UriTooLong(_) => Outcome::UriTooLong,
            Refusal::RouteNotFound => Outcome::RouteNotFound,
            Refusal::Unauthenticated => Outcome::Unauthenticated,
            Refusal::InvalidToken(_) | Refusal::InvalidBasic(_) => Outcome::InvalidToken,
            Refusal::InsufficientScope { .. } | Refusal::NarrowBeyondHeld { .. } => Outcome::InsufficientScope,
            Refusal::Unavailable { .. } => Outcome::Unavailable,
            Refusal::Limited(_) => Outcome::RateLimited,
            Refusal::TooLarge(_) => Outcome::TooLarge,
        }
    }

    /// The reason for the decision log and `/admin/v1/decide`: what was
    /// wrong, never a credential.
    pub fn reason(&self, policy: &Policy) -> String {
        let catalog = &policy.catalog;
        let names = |set: &ScopeSet| catalog.names(set).collect::<Vec<_>>().join(" ");
        let holds = |held: &Held| match names(&catalog.normalize(held.set())) {
            none if none.is_empty() => "holds no scope".to_owned(),
            some => format!("holds {some}"),
        };
        match self {
            Refusal::InvalidToken(why)
            | Refusal::InvalidBasic(why)
            | Refusal::InvalidRequest(why)
            | Refusal::UriTooLong(why) => why.clone(),
            Refusal::BadPath(e) => e.to_string(),
            Refusal::Unavailable { detail } => detail.clone(),
            Refusal::RouteNotFound => "no route matches".into(),
            Refusal::TooLarge(limit) => format!("body larger than gateway.max_body_bytes ({limit} bytes)"),
            Refusal::Limited(retry) => format!(
                "limits.gateway_failures_per_address reached; retry in {} s",
                retry.seconds()
            ),
            Refusal::Unauthenticated => "no credentials".into(),
            Refusal::InsufficientScope { route, held } => {
                let needs = match &policy.route(*route).requirement {
                    Requirement::AllOf(set) => format!("needs all of {}", names(set)),
                    Requirement::AnyOf(set) => format!("needs one of {}", names(set)),
                    Requirement::None | Requirement::Client => "needs an authenticated client".into(),
                };
                format!("{needs}; {}", holds(held))
            }
            Refusal::NarrowBeyondHeld { missing, held } => {
                format!("X-OAuth-Scope names {} not held; {}", names(missing), holds(held))
            }
        }
    }

    /// The HTTP answer, per RFC 6750 section 3 and docs/gateway.md.
    pub fn answer(&self, policy: &Policy) -> RefusalAnswer {
        let catalog = &policy.catalog;
        let names = |set: &ScopeSet| -> Vec<String> { catalog.names(set).map(str::to_owned).collect() };
        let granted = |held: &Held| names(&catalog.normalize(held.set()));
        let challenge = format!("Bearer realm=\"{REALM}\"");
        match self {
            Refusal::BadPath(e) => RefusalAnswer::json(
                400,
                None,
                serde_json::json!({"error": "invalid_request", "error_description": format!("ambiguous path: {e}")}),
            ),
            Refusal::InvalidRequest(why) => RefusalAnswer::json(
                400,
                None,
                serde_json::json!({"error": "invalid_request", "error_description": why}),
            ),
            Refusal::UriTooLong(why) => RefusalAnswer::json(
                414,
                None,
                serde_json::json!({"error": "uri_too_long", "error_description": why}),
            ),
            Refusal::RouteNotFound => RefusalAnswer::json(404, None, serde_json::json!({"error": "route_not_found"})),
            Refusal::TooLarge(limit) => RefusalAnswer::json(
                413,
                None,
                serde_json::json!({
                    "error": "request_too_large",
                    "error_description": format!("the request body is larger than gateway.max_body_bytes ({limit} bytes)"),
                }),
            ),
            Refusal::Unauthenticated => RefusalAnswer::json(
                401,
                Some(challenge),
                serde_json::json!({
                    "error": "unauthenticated",
                    "error_description": "this route needs credentials: Authorization: Bearer <access token>",
                }),
            ),
            Refusal::InvalidToken(why) => RefusalAnswer::json(
                401,
                Some(format!("{challenge}, error=\"invalid_token\"")),
                serde_json::json!({"error": "invalid_token", "error_description": why}),
            ),
            Refusal::InvalidBasic(why) => RefusalAnswer::json(
                401,
                Some(format!("{challenge}, error=\"invalid_token\", Basic realm=\"{REALM}\"")),
                serde_json::json!({"error": "invalid_token", "error_description": why}),
            ),
            Refusal::Unavailable { .. } => RefusalAnswer::json(
                503,
                None,
                serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the credentials could not be checked just now; try again",
                }),
            ),
            Refusal::Limited(retry) => RefusalAnswer {
                retry_after: Some(retry.seconds()),
                ..RefusalAnswer::json(
                    429,
                    None,
                    serde_json::json!({
                        "error": "rate_limited",
                        "error_description": format!(
                            "too many failed authentications from this address; try again in {} s",
                            retry.seconds()
                        ),
                    }),
                )
            },
            Refusal::InsufficientScope { route: id, held } => {
                let route = policy.route(*id);
                let (key, listed) = match &route.requirement {
                    Requirement::AllOf(set) => ("all_of", names(set)),
                    Requirement::AnyOf(set) => ("any_of", names(set)),
                    Requirement::None | Requirement::Client => ("any_of", Vec::new()),
                };
                let mut body = serde_json::json!({
                    "error": "insufficient_scope",
                    "required": {key: listed},
                    "granted": granted(held),
                    "route": route.pattern.to_string(),
                });
                if route.pattern.is_mcp() {
                    // What to ask for in addition, not every alternative.
                    let ask = names(&policy.mcp_challenge(*id, held));
                    body["scope"] = ask.join(" ").into();
                    return insufficient(&ask, &mut body);
                }
                insufficient(&listed, &mut body)
            }
            Refusal::NarrowBeyondHeld { missing, held } => {
                let listed = names(missing);
                let mut body = serde_json::json!({
                    "error": "insufficient_scope",
                    "error_description": "X-OAuth-Scope names scopes the credentials do not hold",
                    "required": {"all_of": listed},
                    "granted": granted(held),
                });
                insufficient(&listed, &mut body)
            }
        }
    }
}

/// A 403 `insufficient_scope` naming `scopes` in its challenge.
fn insufficient(scopes: &[String], body: &mut serde_json::Value) -> RefusalAnswer {
    // Never `scope=""`: a client would read it as "ask for nothing".
    let challenge = match scopes {
        [] => "Bearer error=\"insufficient_scope\"".to_owned(),
        _ => format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", scopes.join(" ")),
    };
    RefusalAnswer::json(403, Some(challenge), body.take())
}

/// A refusal as HTTP: what every front end sends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RefusalAnswer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    /// A JSON document.
    pub body: String,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

impl RefusalAnswer {
    fn json(status: u16, www_authenticate: Option<String>, body: serde_json::Value) -> Self {
        Self {
            status,
            www_authenticate,
            body: body.to_string(),
            retry_after: None,
        }
    }
}

fn invalid_token(why: &str) -> Refusal {
    Refusal::InvalidToken(why.to_owned())
}

/// RFC 6750 section 2.1 `b64token`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=').as_bytes();
    // Branch-free within each chunk, which the compiler can turn into
    // vector code: a JWT is hundreds of bytes, checked on every request.
    !body.is_empty()
        && body
            .chunks(32)
            .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & is_b64token_byte(b)))
}

/// A byte of a `b64token` before its padding, by comparisons rather than
/// a table, so that it vectorizes.
#[inline]
fn is_b64token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~') | (b == b'+') | (b == b'/')
}

/// Whether the query string carries an `access_token` parameter.
fn has_query_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|pair| pair.split('=').next() == Some("access_token")))
}

/// Reads the credentials of an API request from its `Authorization` headers
/// (all of them: more than one is refused) and its query string. A token in
/// the URI is refused (RFC 9700 section 2.4), and given two ways it is a
/// 400 `invalid_request` (RFC 6750 section 2).
pub fn read_credentials<'a>(
    authorization: impl Iterator<Item = &'a [u8]>,
    query: Option<&str>,
    basic_auth: bool,
) -> Result<Credentials<'a>, Refusal> {
    match authorization_value(authorization, query)? {
        None => Ok(Credentials::None),
        Some(value) => parse_authorization(value, basic_auth),
    }
}

/// The one `Authorization` value of an API request, if any, with the checks
/// of [`read_credentials`] that do not look inside it: more than one header,
/// or a token in the URI, is refused.
pub fn authorization_value<'a>(
    mut authorization: impl Iterator<Item = &'a [u8]>,
    query: Option<&str>,
) -> Result<Option<&'a [u8]>, Refusal> {
    let first = authorization.next();
    if authorization.next().is_some() {
        return Err(Refusal::InvalidRequest("more than one Authorization header".into()));
    }
    if has_query_token(query) {
        return Err(Refusal::InvalidRequest(if first.is_some() {
            "the request carries a token two ways (Authorization header and access_token query parameter)".into()
        } else {
            "access tokens in the URI are not accepted: send Authorization: Bearer <token>".into()
        }));
    }
    Ok(first)
}

/// The credentials in one `Authorization` value: a `Bearer` token (RFC 6750
/// `b64token` syntax), or, when `basic_auth` is on, HTTP Basic's client id
/// and secret. A value a cache has already accepted needs no second parse.
pub fn parse_authorization(value: &[u8], basic_auth: bool) -> Result<Credentials<'_>, Refusal> {
    let value = std::str::from_utf8(value).map_err(|_| invalid_token("the Authorization header is not ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim_start_matches(' ');
    if scheme.eq_ignore_ascii_case("bearer") {
        if !is_b64token(rest) {
            return Err(invalid_token("malformed bearer token"));
        }
        return Ok(Credentials::Bearer(rest));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        if !basic_auth {
            return Err(invalid_token(
                "HTTP Basic is not accepted here (gateway.basic_auth is off): use Authorization: Bearer",
            ));
        }
        let malformed = || Refusal::InvalidBasic("malformed Basic credentials".into());
        let (client_id, secret) = crate::basic::parse_basic(rest).ok_or_else(malformed)?;
        if client_id.is_empty() || secret.is_empty() {
            return Err(malformed());
        }
        return Ok(Credentials::Basic { client_id, secret });
    }
    Err(invalid_token("unsupported Authorization scheme: use Bearer"))
}

/// RFC 9112 section 3.2: an HTTP/1.1 request carries exactly one `Host`.
/// `hosts` is every `Host` value of the request; an HTTP/1.0 request may
/// have none, and an HTTP/2 request names its host in `:authority`.
pub fn one_host<'a>(http11: bool, mut hosts: impl Iterator<Item = &'a [u8]>) -> Result<(), Refusal> {
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal::InvalidRequest("more than one Host header".into()));
    }
    if http11 && first.is_none() {
        return Err(Refusal::InvalidRequest(
            "an HTTP/1.1 request must carry a Host header".into(),
        ));
    }
    Ok(())
}

/// Applies `X-OAuth-Scope` (every value of it) to what the caller holds: the
/// effective scope of this one request. Undeclared names are a 400; names not
/// held a 403.
pub fn narrow_request<'a>(
    catalog: &Catalog,
    held: &Held,
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<Held, Refusal> {
    let mut requested = catalog.empty_set();
    let mut any = false;
    for value in values {
        let value =
            std::str::from_utf8(value).map_err(|_| Refusal::InvalidRequest("X-OAuth-Scope is not ASCII".into()))?;
        for name in split_scope_list(value) {
            any = true;
            let id = catalog
                .lookup(name)
                .ok_or_else(|| Refusal::InvalidRequest(format!("X-OAuth-Scope names undeclared scope `{name}`")))?;
            requested.insert(id);
        }
    }
    if !any {
        return Err(Refusal::InvalidRequest("X-OAuth-Scope is empty".into()));
    }
    catalog
        .narrow(held, &requested)
        .map_err(|not_held| Refusal::NarrowBeyondHeld {
            missing: not_held.0,
            held: held.clone(),
        })
}

/// What a credential still holds at request time, and until when that answer stands.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HeldNow {
    /// Closed under implication.
    pub held: Held,
    /// Unix time from which the credential must be looked at again: the first
    /// of its expiry, the next `max_lifetime` cap among what it holds, and
    /// `now + ttl` (at least one second).
    pub recheck_at: i64,
}

impl Policy {
    /// The request-time rule of docs/gateway.md: of the scopes `granted` (at
    /// `granted_at`, when known), a credential holds those that `keep` accepts
    /// (assignment, permissions) and whose `max_lifetime` has not passed; a
    /// scope that implies a dropped one is dropped too.
    pub fn held_now(
        &self,
        granted: &ScopeSet,
        granted_at: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
        ttl: std::time::Duration,
        keep: impl Fn(ScopeId) -> bool,
    ) -> HeldNow {
        let catalog = &self.catalog;
        let cap = |id: ScopeId| {
            let life = catalog.info(id).max_lifetime?;
            Some(granted_at?.saturating_add(i64::try_from(life.as_secs()).unwrap_or(i64::MAX)))
        };
        let held = catalog.restrict(&catalog.close(granted), |id| {
            keep(id) && cap(id).is_none_or(|at| now < at)
        });
        let ttl = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let next_cap = held.set().iter().filter_map(cap).min();
        let recheck_at = [expires_at, next_cap, Some(now.saturating_add(ttl))]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(i64::MAX);
        HeldNow { held, recheck_at }
    }
}

/// The headers a forward-auth call may carry the original request in.
#[derive(Clone, Copy, Default, Debug)]
pub struct ForwardedHeaders<'a> {
    /// Traefik ForwardAuth.
    pub forwarded_method: Option<&'a str>,
    pub forwarded_uri: Option<&'a str>,
    /// nginx `auth_request`, as configured in `docs/forward-auth.md`.
    pub original_method: Option<&'a str>,
    pub original_uri: Option<&'a str>,
}

/// Finds the original request of a forward-auth call: from Traefik's or
/// nginx's headers, or from the path after `/authz` with the call's own
/// method (Envoy `ext_authz`). Sources that disagree are a 400, and so is a
/// call with none: forward-auth fails closed.
pub fn original_request<'a>(
    method: &'a str,
    path_after_authz: Option<&'a str>,
    headers: ForwardedHeaders<'a>,
) -> Result<(&'a str, &'a str), Refusal> {
    let pair = |m: Option<&'a str>, u: Option<&'a str>, names: &str| match (m, u) {
        (Some(m), Some(u)) => Ok(Some((m, u))),
        (None, None) => Ok(None),
        _ => Err(Refusal::InvalidRequest(format!(
            "forward-auth: {names} must come together"
        ))),
    };
    let traefik = pair(
        headers.forwarded_method,
        headers.forwarded_uri,
        "X-Forwarded-Method and X-Forwarded-Uri",
    )?;
    let nginx = pair(
        headers.original_method,
        headers.original_uri,
        "X-Original-Method and X-Original-URI",
    )?;
    let envoy = path_after_authz.filter(|p| !p.is_empty()).map(|p| (method, p));
    let mut found: Option<(&str, &str)> = None;
    for source in [traefik, nginx, envoy].into_iter().flatten() {
        match found {
            None => found = Some(source),
            Some(seen) if seen.0.eq_ignore_ascii_case(source.0) && seen.1 == source.1 => {}
            Some(_) => {
                return Err(Refusal::InvalidRequest(
                    "forward-auth: the original request is given two ways that disagree".into(),
                ));
            }
        }
    }
    found.ok_or_else(|| {
        Refusal::InvalidRequest(
            "forward-auth needs the original request: X-Forwarded-Method and X-Forwarded-Uri (Traefik), \
             X-Original-Method and X-Original-URI (nginx), or /authz/<path> (Envoy)"
                .into(),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn b64token_bytes_are_rfc_6750_section_2_1() {
        // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
        for b in 0..=255u8 {
            let rfc = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_byte(b), rfc, "byte {b:#04x}");
        }
        assert!(is_b64token("abc+/=="));
        assert!(!is_b64token("=="));
        assert!(!is_b64token("a=b"));
        assert!(!is_b64token("caf\u{e9}"));
    }

    proptest::proptest! {
        #[test]
        fn b64token_is_rfc_6750_section_2_1_at_any_length(token in "[A-Za-z0-9._~+/=\\-]{0,90}[ -~\u{e9}]?[A-Za-z0-9=]{0,40}") {
            let body = token.trim_end_matches('=');
            let rfc = !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
            proptest::prop_assert_eq!(is_b64token(&token), rfc);
        }
    }

    #[test]
    fn reserved_headers_in_any_spelling() {
        for name in [
            "x-scopegate-scopes",
            "X-Scopegate-Client-Id",
            "x_scopegate_subject",
            "X-SCOPEGATE_ENVIRONMENT",
            "x-scopegate-anything",
        ] {
            assert!(is_reserved_header(name), "{name}");
        }
        for name in [
            "x-scopegate",
            "x-scopegate-",
            "x-scopegates-a",
            "scopegate-scopes",
            "x-forwarded-for",
        ] {
            assert!(!is_reserved_header(name), "{name}");
        }
        assert!(is_narrow_header("X_OAuth_Scope"));
        assert!(!is_narrow_header("x-oauth-scopes"));
    }

    #[test]
    fn an_http_1_1_request_carries_exactly_one_host() {
        let one: [&[u8]; 1] = [b"api.example"];
        let two: [&[u8]; 2] = [b"api.example", b"evil.example"];
        assert!(one_host(true, one.into_iter()).is_ok());
        assert!(one_host(false, std::iter::empty()).is_ok(), "HTTP/1.0 may omit it");
        assert_eq!(
            one_host(true, std::iter::empty()).unwrap_err().outcome(),
            "invalid_request"
        );
        assert_eq!(
            one_host(true, two.into_iter()).unwrap_err().outcome(),
            "invalid_request"
        );
        assert_eq!(
            one_host(false, two.into_iter()).unwrap_err().outcome(),
            "invalid_request"
        );
    }

    #[test]
    fn presented_credentials_never_print_their_secret() {
        let basic = Credentials::Basic {
            client_id: "sgci_app".into(),
            secret: "sgcs_very_secret".into(),
        };
        let printed = format!("{basic:?} {:?}", Credentials::Bearer("sgat_the_token"));
        assert!(printed.contains("sgci_app"), "{printed}");
        assert!(
            !printed.contains("very_secret") && !printed.contains("the_token"),
            "{printed}"
        );
    }

    #[test]
    fn query_token_is_found_only_as_a_parameter_name() {
        assert!(has_query_token(Some("a=1&access_token=x")));
        assert!(has_query_token(Some("access_token")));
        assert!(!has_query_token(Some("my_access_token=1")));
        assert!(!has_query_token(None));
    }
}
