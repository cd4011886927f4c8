//! One request through the decision path, as a value: the matched route, what
//! it requires, what the caller holds after implication and narrowing, and the
//! decision with its reason. `scopegate explain` prints it and the admin API's
//! `POST /admin/api/decide` answers it as JSON, so both always agree.

use serde::Serialize;

use crate::catalog::Held;
use crate::decision::{Allowance, Caller, Decision};
use crate::policy::Policy;
use crate::route::Requirement;
use crate::scopeset::ScopeSet;

/// Who the request is explained for.
#[derive(Clone, Copy, Debug)]
pub enum Credentials<'a> {
    /// No credentials at all.
    Anonymous,
    /// An authenticated caller granted this scope list (space- or
    /// comma-separated; empty for a client with no scope), optionally
    /// narrowed by an `X-OAuth-Scope` value.
    Scopes { granted: &'a str, narrow: Option<&'a str> },
}

/// The scope lists given could not be read.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ExplainInputError {
    #[error("scopes: {0}")]
    Scopes(String),
    #[error("narrow: {0}")]
    Narrow(String),
    /// The MCP operation (method `mcp`) is malformed.
    #[error("operation: {0}")]
    Operation(String),
}

impl ExplainInputError {
    /// The input field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ExplainInputError::Scopes(_) => "scopes",
            ExplainInputError::Narrow(_) => "narrow",
            ExplainInputError::Operation(_) => "target",
        }
    }
}

/// The route a request matched.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MatchedRoute {
    /// `METHOD PATTERN` as the policy writes it.
    pub pattern: String,
    /// `FILE:LINE` of the route in the policy.
    pub location: String,
    /// `none`, `client`, `any_of` or `all_of`.
    pub require: &'static str,
    /// The scopes of `any_of` or `all_of`.
    pub scopes: Vec<String>,
    /// The requirement in words.
    pub describe: String,
}

/// The full decision value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Explanation {
    pub method: String,
    /// The target as given.
    pub target: String,
    /// The canonical path decided on; `None` when the target was refused.
    pub canonical_path: Option<String>,
    pub route: Option<MatchedRoute>,
    /// Whether credentials were presented.
    pub authenticated: bool,
    /// The granted scopes, normalized (`None` for an anonymous caller).
    pub granted: Option<Vec<String>>,
    /// What the caller holds after implication and narrowing.
    pub holds: Option<Vec<String>>,
    /// `allow`, `bad_path`, `route_not_found`, `unauthenticated`, `insufficient_scope`.
    pub outcome: &'static str,
    pub allowed: bool,
    /// The status the gateway would answer with (200: passed upstream).
    pub status: u16,
    /// Why, in words.
    pub reason: String,
}

/// Explains METHOD TARGET for `credentials` under `policy`. A METHOD of
/// `mcp` explains the MCP operation TARGET (`tools/call create_order`).
pub fn explain(
    policy: &Policy,
    method: &str,
    target: &str,
    credentials: Credentials<'_>,
) -> Result<Explanation, ExplainInputError> {
    let catalog = &policy.catalog;
    let (granted, held, narrow_refused) = match credentials {
        Credentials::Anonymous => (None, None, None),
        Credentials::Scopes { granted, narrow } => {
            let given = catalog
                .parse_list(granted)
                .map_err(|e| ExplainInputError::Scopes(format!("{e}; {}", declared_hint(policy))))?;
            let mut held = catalog.close(&given);
            let mut refused = None;
            if let Some(narrow) = narrow {
                let requested = catalog
                    .parse_list(narrow)
                    .map_err(|e| ExplainInputError::Narrow(e.to_string()))?;
                match catalog.narrow(&held, &requested) {
                    Ok(narrowed) => held = narrowed,
                    Err(not_held) => refused = Some(not_held.0),
                }
            }
            (Some(catalog.normalize(&given)), Some(held), refused)
        }
    };
    let names = |set: &ScopeSet| catalog.names(set).map(str::to_owned).collect::<Vec<_>>();
    let mut explanation = Explanation {
        method: method.to_owned(),
        target: target.to_owned(),
        canonical_path: None,
        route: None,
        authenticated: granted.is_some(),
        granted: granted.as_ref().map(names),
        holds: held.as_ref().map(|h| names(h.set())),
        outcome: "",
        allowed: false,
        status: 0,
        reason: String::new(),
    };
    if let Some(not_held) = narrow_refused {
        explanation.outcome = "insufficient_scope";
        explanation.status = 403;
        explanation.reason = format!(
            "X-OAuth-Scope names {} which the caller does not hold",
            catalog.display(&not_held)
        );
        return Ok(explanation);
    }
    let resolved = if method.eq_ignore_ascii_case("mcp") {
        let call = crate::mcp_call::McpCall::parse(target).map_err(ExplainInputError::Operation)?;
        Ok((None, policy.match_mcp(&call.method, call.name.as_deref())))
    } else {
        policy
            .resolve(method, target)
            .map(|r| (Some(r.target.path.to_string()), r.route))
    };
    let decision = match resolved {
        Err(e) => Decision::BadPath(e),
        Ok((canonical_path, route)) => {
            explanation.canonical_path = canonical_path;
            if let Some(id) = route {
                let r = policy.route(id);
                let (require, scopes) = match &r.requirement {
                    Requirement::None => ("none", Vec::new()),
                    Requirement::Client => ("client", Vec::new()),
                    Requirement::AnyOf(s) => ("any_of", names(s)),
                    Requirement::AllOf(s) => ("all_of", names(s)),
                };
                explanation.route = Some(MatchedRoute {
                    pattern: r.pattern.to_string(),
                    location: format!("{}:{}", policy.file, r.line),
                    require,
                    scopes,
                    describe: describe_requirement(policy, &r.requirement),
                });
            }
            let caller = held.as_ref().map_or(Caller::Anonymous, Caller::Client);
            policy.decide_route(route, caller)
        }
    };
    explanation.outcome = decision.outcome().as_str();
    explanation.allowed = decision.is_allow();
    explanation.status = status(&decision);
    explanation.reason = reason(policy, &decision, method, granted.as_ref(), held.as_ref());
    Ok(explanation)
}

fn status(decision: &Decision) -> u16 {
    match decision {
        Decision::Allow { .. } => 200,
        Decision::BadPath(_) => 400,
        Decision::RouteNotFound => 404,
        Decision::Unauthenticated { .. } => 401,
        Decision::InsufficientScope { .. } => 403,
    }
}

fn declared_hint(policy: &Policy) -> String {
    let names: Vec<&str> = policy.catalog.iter().map(|(_, s)| s.name.as_str()).collect();
    format!("declared scopes are: {}", names.join(" "))
}

/// A requirement in words.
pub fn describe_requirement(policy: &Policy, requirement: &Requirement) -> String {
    match requirement {
        Requirement::None => "nothing: credentials are not examined".to_owned(),
        Requirement::Client => "any authenticated client, whatever its scope".to_owned(),
        Requirement::AnyOf(s) => format!("any of: {}", policy.catalog.display(s)),
        Requirement::AllOf(s) => format!("all of: {}", policy.catalog.display(s)),
    }
}

fn reason(
    policy: &Policy,
    decision: &Decision,
    method: &str,
    granted: Option<&ScopeSet>,
    held: Option<&Held>,
) -> String {
    let catalog = &policy.catalog;
    match decision {
        Decision::Allow { because, .. } => match because {
            Allowance::Open => "the route is open to everyone".to_owned(),
            Allowance::AnyClient => "any authenticated client may call this route".to_owned(),
            Allowance::Holds(id) => {
                let implier = granted.and_then(|g| g.iter().find(|&s| s != *id && catalog.closure_of(s).contains(*id)));
                match implier {
                    Some(by) if !granted.is_some_and(|g| g.contains(*id)) => {
                        format!("holds {} (implied by {})", catalog.name(*id), catalog.name(by))
                    }
                    _ => format!("holds {}", catalog.name(*id)),
                }
            }
            Allowance::HoldsAll => "holds every required scope".to_owned(),
        },
        Decision::BadPath(e) => format!("the path is ambiguous: {e}"),
        Decision::RouteNotFound if method.eq_ignore_ascii_case("mcp") => {
            "no mcp_route matches this operation".to_owned()
        }
        Decision::RouteNotFound => format!("no route matches {method} on this path"),
        Decision::Unauthenticated { .. } => "the route needs credentials and none were given".to_owned(),
        Decision::InsufficientScope { route } => {
            let missing = &held.map(|h| policy.missing(*route, h)).unwrap_or_default();
            let why = match policy.route(*route).requirement {
                Requirement::AllOf(_) => format!("missing {}", catalog.display(missing)),
                _ => format!("holds none of {}", catalog.display(missing)),
            };
            match held {
                Some(held) if policy.route(*route).pattern.is_mcp() => format!(
                    "{why}; the challenge asks for scope=\"{}\"",
                    catalog.display(&policy.mcp_challenge(*route, held))
                ),
                _ => why,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy() -> Policy {
        Policy::compile(
            "p.toml",
            r#"
[[scope]]
name   = "account"
levels = ["read", "write"]
[[scope]]
name = "billing"

[[route]]
match  = "GET /account/*"
any_of = ["account:read"]

[[route]]
match  = "POST /pay"
all_of = ["account:write", "billing"]
"#,
        )
        .unwrap()
    }

    fn scopes(granted: &str) -> Credentials<'_> {
        Credentials::Scopes { granted, narrow: None }
    }

    #[test]
    fn an_allow_names_the_implying_scope() {
        let e = explain(&policy(), "GET", "/account/settings", scopes("account:write")).unwrap();
        assert!(e.allowed);
        assert_eq!(e.status, 200);
        assert_eq!(e.reason, "holds account:read (implied by account:write)");
        assert_eq!(e.holds.unwrap(), ["account:read", "account:write"]);
        let route = e.route.unwrap();
        assert_eq!((route.require, route.location.as_str()), ("any_of", "p.toml:9"));
    }

    #[test]
    fn each_denial_has_its_outcome_and_status() {
        let p = policy();
        let cases = [
            ("GET", "/account/%2e%2e/x", scopes("account:read"), "bad_path", 400),
            ("GET", "/nowhere", scopes("account:read"), "route_not_found", 404),
            ("GET", "/account/x", Credentials::Anonymous, "unauthenticated", 401),
            ("POST", "/pay", scopes("account:write"), "insufficient_scope", 403),
        ];
        for (method, target, credentials, outcome, status) in cases {
            let e = explain(&p, method, target, credentials).unwrap();
            assert_eq!(
                (e.outcome, e.status, e.allowed),
                (outcome, status, false),
                "{method} {target}"
            );
        }
        let e = explain(&p, "POST", "/pay", scopes("account:write")).unwrap();
        assert_eq!(e.reason, "missing billing");
    }

    #[test]
    fn narrowing_to_a_scope_not_held_is_insufficient_scope() {
        let p = policy();
        let narrowed = Credentials::Scopes {
            granted: "account:read",
            narrow: Some("billing"),
        };
        let e = explain(&p, "GET", "/account/x", narrowed).unwrap();
        assert_eq!((e.outcome, e.status), ("insufficient_scope", 403));
        let narrowed = Credentials::Scopes {
            granted: "account:write billing",
            narrow: Some("billing"),
        };
        let e = explain(&p, "GET", "/account/x", narrowed).unwrap();
        assert_eq!(e.holds.unwrap(), ["billing"]);
        assert_eq!(e.outcome, "insufficient_scope");
    }

    #[test]
    fn undeclared_scopes_are_input_errors_naming_the_field() {
        let p = policy();
        assert_eq!(explain(&p, "GET", "/x", scopes("nope")).unwrap_err().field(), "scopes");
        let bad = Credentials::Scopes {
            granted: "billing",
            narrow: Some("nope"),
        };
        assert_eq!(explain(&p, "GET", "/x", bad).unwrap_err().field(), "narrow");
    }
}
