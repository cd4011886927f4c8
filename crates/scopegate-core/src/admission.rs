//! The decision sequence of docs/gateway.md, once, for every front end (the
//! gateway on both of its transports, forward-auth, the tower layer):
//!
//! 1. [`admit`]: refuse what is not a path, resolve the route, decide for an
//!    anonymous caller, and read the one `Authorization` value. An open route
//!    is allowed here and its credentials are never read.
//! 2. The front end identifies that value with its own I/O (a cache, a
//!    store, a JWKS, introspection) and the request-time checks.
//! 3. [`Unverified::conclude`]: narrow what the verified caller holds by
//!    `X-OAuth-Scope` and decide again.
//!
//! Every refusal on the way is a [`Denial`], the route it matched (if any)
//! and the [`Refusal`] that says how to answer.

use crate::catalog::Held;
use crate::decision::{Allowance, Caller, Decision};
use crate::enforce::{Refusal, authorization_value, narrow_request};
use crate::mcp_call::McpCall;
use crate::path::CanonicalTarget;
use crate::policy::Policy;
use crate::route::RouteId;

/// A refused request: its route, when one matched (for metrics and logs),
/// and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Denial {
    pub route: Option<RouteId>,
    pub refusal: Refusal,
}

impl Denial {
    /// A refusal before any route matched.
    pub fn unrouted(refusal: Refusal) -> Self {
        Self { route: None, refusal }
    }
}

impl Denial {
    /// The HTTP answer to this refusal: [`Refusal::answer`], and on an
    /// `[[mcp_route]]` every Bearer challenge also names the RFC 9728
    /// document (`resource_metadata`), where an MCP client finds the
    /// authorization server.
    pub fn answer(&self, policy: &Policy) -> crate::enforce::RefusalAnswer {
        let mut answer = self.refusal.answer(policy);
        let mcp = self.route.is_some_and(|r| policy.route(r).pattern.is_mcp());
        if let (true, Some(challenge), Some(settings)) = (mcp, &mut answer.www_authenticate, &policy.settings.mcp) {
            challenge.insert_str(
                "Bearer ".len(),
                &format!(
                    "resource_metadata=\"{}{}\", ",
                    policy.settings.issuer.trim_end_matches('/'),
                    settings.metadata_path()
                ),
            );
        }
        answer
    }
}

/// An allowed request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Allowed<'t> {
    pub route: RouteId,
    /// What is forwarded: the canonical path and the query as sent.
    pub target: CanonicalTarget<'t>,
    pub because: Allowance,
    /// What `X-OAuth-Scope` narrowed the caller's holdings to, when it was sent.
    pub narrowed: Option<Held>,
}

impl Allowed<'_> {
    /// The reason for the decision log: borrowed from the policy.
    pub fn reason<'p>(&self, policy: &'p Policy) -> &'p str {
        match self.because {
            Allowance::Open => "open route",
            Allowance::AnyClient => "any authenticated client",
            Allowance::Holds(id) => policy.catalog.name(id),
            Allowance::HoldsAll => "holds every scope listed",
        }
    }
}

/// What [`admit`] found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Admission<'t, 'a> {
    /// A `require = "none"` route: allowed, credentials unread.
    Open(Allowed<'t>),
    /// A route that needs credentials, and the `Authorization` value to verify.
    Verify(Unverified<'t, 'a>),
}

/// A request whose route needs the credentials it carries verified.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Unverified<'t, 'a> {
    pub route: RouteId,
    pub target: CanonicalTarget<'t>,
    /// The one `Authorization` value, as sent.
    pub authorization: &'a [u8],
}

/// Step 1: may a request for `method target` go on, and with which
/// credentials? `authorization` is every `Authorization` value it carries.
/// `mcp` is the MCP operation the request names, when the front end read
/// one: a POST to `mcp.path` is decided on it by `[[mcp_route]]`, and
/// without one it is refused.
pub fn admit<'t, 'a>(
    policy: &Policy,
    method: &str,
    target: &'t str,
    mcp: Option<&McpCall<'_>>,
    authorization: impl Iterator<Item = &'a [u8]>,
) -> Result<Admission<'t, 'a>, Denial> {
    if method.eq_ignore_ascii_case("CONNECT") {
        return Err(Denial::unrouted(Refusal::InvalidRequest(
            "CONNECT is not served: scopegate is a gateway to one API, not a forward proxy".into(),
        )));
    }
    if !target.starts_with('/') {
        return Err(Denial::unrouted(Refusal::InvalidRequest(
            "the request target must be a path (origin-form); authority-form and asterisk-form targets are not served"
                .into(),
        )));
    }
    let gateway = &policy.settings.gateway;
    let (path, query) = target.split_once('?').map_or((target, ""), |(p, q)| (p, q));
    for (part, len, max, key) in [
        ("path", path.len(), gateway.max_path_bytes, "max_path_bytes"),
        ("query", query.len(), gateway.max_query_bytes, "max_query_bytes"),
    ] {
        if len > max {
            return Err(Denial::unrouted(Refusal::UriTooLong(format!(
                "the {part} is {len} bytes, longer than gateway.{key} ({max} bytes)"
            ))));
        }
    }
    let resolved = policy
        .resolve(method, target)
        .map_err(|e| Denial::unrouted(Refusal::BadPath(e)))?;
    let matched = if policy.is_mcp_request(method, &resolved.target.path) {
        let call = mcp.ok_or_else(|| {
            Denial::unrouted(Refusal::InvalidRequest(
                "an MCP request (a POST to mcp.path) must carry one JSON-RPC request in its body and name its method in Mcp-Method".into(),
            ))
        })?;
        policy.match_mcp(&call.method, call.name.as_deref())
    } else {
        resolved.route
    };
    let route = match policy.decide_route(matched, Caller::Anonymous) {
        Decision::Allow { route, because } => {
            return Ok(Admission::Open(Allowed {
                route,
                target: resolved.target,
                because,
                narrowed: None,
            }));
        }
        Decision::Unauthenticated { route } | Decision::InsufficientScope { route } => route,
        denied => return Err(refusal(denied, &Held::default())),
    };
    let deny = |refusal| Denial {
        route: Some(route),
        refusal,
    };
    match authorization_value(authorization, resolved.target.query).map_err(deny)? {
        None => Err(deny(Refusal::Unauthenticated)),
        Some(authorization) => Ok(Admission::Verify(Unverified {
            route,
            target: resolved.target,
            authorization,
        })),
    }
}

impl<'t> Unverified<'t, '_> {
    /// A refusal of this request, on its route (a credential that did not verify).
    pub fn deny(&self, refusal: Refusal) -> Denial {
        Denial {
            route: Some(self.route),
            refusal,
        }
    }

    /// Step 3: the caller verified, holding `held` (closed under
    /// implication, after the request-time checks), with a token issued for
    /// `resource` (RFC 8707; `None`: for none); `narrow` is every
    /// `X-OAuth-Scope` value the request carries.
    pub fn conclude<'v>(
        self,
        policy: &Policy,
        held: &Held,
        resource: Option<&str>,
        narrow: impl Iterator<Item = &'v [u8]>,
    ) -> Result<Allowed<'t>, Denial> {
        if let Some(why) = policy.audience_refusal(self.route, &self.target.path, resource) {
            return Err(self.deny(Refusal::InvalidToken(why)));
        }
        let mut narrow = narrow.peekable();
        let narrowed = match narrow.peek() {
            None => None,
            Some(_) => Some(narrow_request(&policy.catalog, held, narrow).map_err(|r| self.deny(r))?),
        };
        let holds = narrowed.as_ref().unwrap_or(held);
        match policy.decide_route(Some(self.route), Caller::Client(holds)) {
            Decision::Allow { route, because } => Ok(Allowed {
                route,
                target: self.target,
                because,
                narrowed,
            }),
            denied => Err(refusal(denied, holds)),
        }
    }
}

/// The refusal a decision other than an allow stands for: the one mapping
/// from [`Decision`] to [`Refusal`].
pub fn refusal(decision: Decision, held: &Held) -> Denial {
    let route = decision.route();
    let refusal = match decision {
        Decision::BadPath(e) => Refusal::BadPath(e),
        Decision::RouteNotFound => Refusal::RouteNotFound,
        Decision::Unauthenticated { .. } => Refusal::Unauthenticated,
        Decision::InsufficientScope { route } => Refusal::InsufficientScope {
            route,
            held: held.clone(),
        },
        // Not a refusal; callers pass only denials. Fail closed all the same.
        Decision::Allow { route, .. } => Refusal::InsufficientScope {
            route,
            held: held.clone(),
        },
    };
    Denial { route, refusal }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn policy() -> Policy {
        Policy::compile(
            "t.toml",
            r#"
            [[scope]]
            name = "account"
            levels = ["read", "write"]

            [[route]]
            match = "GET /open"
            require = "none"

            [[route]]
            match = "GET /account/*"
            any_of = ["account:read"]
            "#,
        )
        .unwrap()
    }

    #[test]
    fn connect_is_refused_before_matching() {
        let policy = policy();
        for (method, target) in [
            ("CONNECT", "example.com:443"),
            ("CONNECT", "/open"),
            ("GET", "example.com:443"),
            ("OPTIONS", "*"),
        ] {
            let denial = admit(&policy, method, target, None, std::iter::empty()).unwrap_err();
            assert_eq!(denial.route, None, "{method} {target}");
            assert_eq!(denial.refusal.outcome(), "invalid_request", "{method} {target}");
        }
    }

    #[test]
    fn an_open_route_is_allowed_without_reading_credentials() {
        let policy = policy();
        let admission = admit(
            &policy,
            "GET",
            "/open",
            None,
            [b"garbage".as_slice(), b"two".as_slice()].into_iter(),
        )
        .unwrap();
        assert!(matches!(
            admission,
            Admission::Open(Allowed {
                because: Allowance::Open,
                ..
            })
        ));
    }

    #[test]
    fn a_route_needing_credentials_asks_for_the_one_authorization_value() {
        let policy = policy();
        let Admission::Verify(unverified) =
            admit(&policy, "GET", "/account/x", None, [b"Bearer t".as_slice()].into_iter()).unwrap()
        else {
            panic!("not asked to verify");
        };
        assert_eq!(unverified.authorization, b"Bearer t");
        let none = admit(&policy, "GET", "/account/x", None, std::iter::empty()).unwrap_err();
        assert_eq!(none.refusal, Refusal::Unauthenticated);
        assert!(none.route.is_some());
        let two = admit(
            &policy,
            "GET",
            "/account/x",
            None,
            [b"a".as_slice(), b"b".as_slice()].into_iter(),
        )
        .unwrap_err();
        assert_eq!(two.refusal.outcome(), "invalid_request");
        assert_eq!(
            admit(&policy, "GET", "/nowhere", None, std::iter::empty())
                .unwrap_err()
                .refusal,
            Refusal::RouteNotFound
        );
    }

    #[test]
    fn conclude_narrows_then_decides() {
        let policy = policy();
        let held = policy
            .catalog
            .close(&policy.catalog.parse_list("account:write").unwrap());
        let verify = || match admit(&policy, "GET", "/account/x", None, [b"Bearer t".as_slice()].into_iter()).unwrap() {
            Admission::Verify(u) => u,
            Admission::Open(_) => panic!("open"),
        };
        let allowed = verify().conclude(&policy, &held, None, std::iter::empty()).unwrap();
        assert_eq!(allowed.narrowed, None);
        assert_eq!(allowed.reason(&policy), "account:read");
        let narrowed = verify()
            .conclude(&policy, &held, None, [b"account:read".as_slice()].into_iter())
            .unwrap();
        assert!(narrowed.narrowed.is_some());
        let too_narrow = policy.catalog.close(&policy.catalog.empty_set());
        assert_eq!(
            verify()
                .conclude(&policy, &too_narrow, None, std::iter::empty())
                .unwrap_err()
                .refusal
                .outcome(),
            "insufficient_scope"
        );
        assert_eq!(
            verify()
                .conclude(&policy, &held, None, [b"nope".as_slice()].into_iter())
                .unwrap_err()
                .refusal
                .outcome(),
            "invalid_request"
        );
    }
}
