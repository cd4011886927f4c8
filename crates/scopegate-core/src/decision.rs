//! Decisions as values: "may this caller do METHOD PATH, and if not, why?".
//! The same [`Decision`] drives the gateway's answer, `explain`, logs and metrics.

use crate::catalog::Held;
use crate::path::{CanonicalTarget, PathError, canonicalize};
use crate::policy::Policy;
use crate::route::{Requirement, RouteId};
use crate::scopeset::{ScopeId, ScopeSet};

/// What became of a request, as logs, metrics and traces name it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Outcome {
    Allow,
    BadPath,
    InvalidRequest,
    UriTooLong,
    RouteNotFound,
    Unauthenticated,
    InvalidToken,
    InsufficientScope,
    RateLimited,
    TooLarge,
    UpstreamError,
    Unavailable,
}

impl Outcome {
    /// Every outcome, in the order of [`Outcome::index`].
    pub const ALL: [Outcome; 12] = [
        Outcome::Allow,
        Outcome::BadPath,
        Outcome::InvalidRequest,
        Outcome::UriTooLong,
        Outcome::RouteNotFound,
        Outcome::Unauthenticated,
        Outcome::InvalidToken,
        Outcome::InsufficientScope,
        Outcome::RateLimited,
        Outcome::TooLarge,
        Outcome::UpstreamError,
        Outcome::Unavailable,
    ];

    /// The stable name (a metric label, a log field).
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::BadPath => "bad_path",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::UriTooLong => "uri_too_long",
            Outcome::RouteNotFound => "route_not_found",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::InvalidToken => "invalid_token",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::RateLimited => "rate_limited",
            Outcome::TooLarge => "too_large",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Unavailable => "unavailable",
        }
    }

    /// Its place in [`Outcome::ALL`] (an array index for per-outcome series).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// No credentials were presented.
    Anonymous,
    /// An authenticated client holding these scopes (closed under implication).
    Client(&'a Held),
}

/// Why a request was allowed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Allowance {
    /// `require = "none"`: credentials were not examined.
    Open,
    /// `require = "client"`: any authenticated client.
    AnyClient,
    /// `any_of`: this held scope is one of those listed.
    Holds(ScopeId),
    /// `all_of`: every listed scope is held.
    HoldsAll,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Decision {
    Allow {
        route: RouteId,
        because: Allowance,
    },
    /// The path is ambiguous and was refused before matching.
    BadPath(PathError),
    /// No route matches: denied whatever the credentials.
    RouteNotFound,
    /// The route needs credentials and none were presented.
    Unauthenticated {
        route: RouteId,
    },
    /// The caller lacks scope; [`Policy::missing`] says which.
    InsufficientScope {
        route: RouteId,
    },
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// A short stable name for logs and metric labels.
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Allow { .. } => Outcome::Allow,
            Decision::BadPath(_) => Outcome::BadPath,
            Decision::RouteNotFound => Outcome::RouteNotFound,
            Decision::Unauthenticated { .. } => Outcome::Unauthenticated,
            Decision::InsufficientScope { .. } => Outcome::InsufficientScope,
        }
    }

    pub fn route(&self) -> Option<RouteId> {
        match self {
            Decision::Allow { route, .. }
            | Decision::Unauthenticated { route }
            | Decision::InsufficientScope { route, .. } => Some(*route),
            Decision::BadPath(_) | Decision::RouteNotFound => None,
        }
    }
}

/// A request target resolved to its canonical form and route.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Resolved<'t> {
    pub target: CanonicalTarget<'t>,
    pub route: Option<RouteId>,
}

impl Policy {
    /// Canonicalizes `target` and finds its route. Front ends call this first:
    /// on a `require = "none"` route they must not examine credentials.
    pub fn resolve<'t>(&self, method: &str, target: &'t str) -> Result<Resolved<'t>, PathError> {
        let target = canonicalize(target)?;
        if self.settings.gateway.windows_upstream {
            crate::path::check_windows(&target.path)?;
        }
        let route = self.match_route(method, &target.path);
        Ok(Resolved { target, route })
    }

    /// Decides a resolved request for `caller`. Allocates nothing, whatever the
    /// outcome: denials must cost no more than allowing.
    pub fn decide_route(&self, route: Option<RouteId>, caller: Caller<'_>) -> Decision {
        let Some(route) = route else {
            return Decision::RouteNotFound;
        };
        let requirement = &self.route(route).requirement;
        let held = match (requirement, caller) {
            (Requirement::None, _) => {
                return Decision::Allow {
                    route,
                    because: Allowance::Open,
                };
            }
            (_, Caller::Anonymous) => return Decision::Unauthenticated { route },
            (_, Caller::Client(held)) => held,
        };
        let because = match requirement {
            Requirement::None | Requirement::Client => Some(Allowance::AnyClient),
            Requirement::AnyOf(any) => any.iter().find(|&id| held.contains(id)).map(Allowance::Holds),
            Requirement::AllOf(all) => all.is_subset(held.set()).then_some(Allowance::HoldsAll),
        };
        match because {
            Some(because) => Decision::Allow { route, because },
            None => Decision::InsufficientScope { route },
        }
    }

    /// What a caller holding `held` lacks for `route`: every listed scope for
    /// `any_of` (any one would do), the unheld ones for `all_of`.
    pub fn missing(&self, route: RouteId, held: &Held) -> ScopeSet {
        let requirement = &self.route(route).requirement;
        let mut missing = requirement.scopes().cloned().unwrap_or_default();
        if let Requirement::AllOf(_) = requirement {
            missing.difference_with(held.set());
        }
        missing
    }

    /// Canonicalize, match and decide in one step.
    pub fn decide(&self, method: &str, target: &str, caller: Caller<'_>) -> Decision {
        match self.resolve(method, target) {
            Ok(resolved) => self.decide_route(resolved.route, caller),
            Err(e) => Decision::BadPath(e),
        }
    }
}
