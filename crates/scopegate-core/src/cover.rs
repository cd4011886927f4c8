//! The minimal scope cover: the smallest scope set that lets an app call every
//! listed endpoint (`scopegate scopes-for`, the portal's picker).
//!
//! Each endpoint becomes constraints "hold at least one of these scopes", where a
//! scope counts if anything it implies is what the route lists. Choosing the
//! fewest scopes that meet every constraint is a hitting-set problem (NP-hard in
//! general, tiny in practice), solved exactly by branch and bound: branch on the
//! open constraint with the fewest options, bound with a count of pairwise
//! disjoint open constraints (each needs its own scope). Among covers of minimal
//! size the least privileged wins (fewest routes opened, then fewest scopes
//! implied); remaining ties go to the first found, so the answer is
//! deterministic. Constraints that share no option are solved apart.

use std::fmt;

use crate::catalog::GrantKind;
use crate::path::canonicalize;
use crate::policy::Policy;
use crate::route::{Requirement, RouteId};
use crate::scopeset::{ScopeId, ScopeSet};

/// What the cover is for: optionally one grant and one environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct CoverFor<'a> {
    pub grant: Option<GrantKind>,
    pub environment: Option<&'a str>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Cover {
    /// The chosen scopes, in declaration order.
    pub scopes: ScopeSet,
    /// The route each endpoint matched, in input order.
    pub routes: Vec<RouteId>,
}

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CoverError {
    #[error(
        "{endpoint:?} is not \"METHOD PATH\" (e.g. \"GET /account/settings\") or \"mcp OPERATION\" (e.g. \"mcp tools/call create_order\")"
    )]
    BadEndpoint { endpoint: String },
    #[error("{endpoint:?}: {reason}")]
    BadOperation { endpoint: String, reason: String },
    #[error("{endpoint:?}: {reason}")]
    BadPath { endpoint: String, reason: String },
    #[error("{endpoint:?}: no route matches, so no scope can allow it")]
    NoRoute { endpoint: String },
    #[error("{endpoint:?} (route \"{route}\") needs {needs}, but no scope that grants it is available {under}")]
    Unsatisfiable {
        endpoint: String,
        route: String,
        needs: String,
        under: String,
    },
}

impl fmt::Display for CoverFor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.grant, self.environment) {
            (Some(g), Some(e)) => write!(f, "to {} ({g}) in {e}", g.token_kind()),
            (Some(g), None) => write!(f, "to {} ({g})", g.token_kind()),
            (None, Some(e)) => write!(f, "in {e}"),
            (None, None) => f.write_str("at all"),
        }
    }
}

impl Policy {
    /// The smallest scope set under which a token may call every endpoint
    /// (`"METHOD PATH"`). Provably minimal in size; see the module docs.
    /// An endpoint `"mcp OPERATION"` is an MCP operation (`[[mcp_route]]`).
    pub fn scopes_for<S: AsRef<str>>(&self, endpoints: &[S], under: CoverFor<'_>) -> Result<Cover, CoverError> {
        let mut routes = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            routes.push(self.endpoint_route(endpoint.as_ref().trim())?);
        }
        let scopes = self.cover_routes(&routes, under, None).map_err(|(i, needs)| {
            let endpoint = endpoints[i].as_ref().trim().to_owned();
            CoverError::Unsatisfiable {
                endpoint,
                route: self.route(routes[i]).pattern.to_string(),
                needs,
                under: under.to_string(),
            }
        })?;
        Ok(Cover { scopes, routes })
    }

    /// The route an endpoint (`"METHOD PATH"` or `"mcp OPERATION"`) matches.
    fn endpoint_route(&self, endpoint: &str) -> Result<RouteId, CoverError> {
        if let Some(operation) = endpoint.strip_prefix("mcp ") {
            let call = crate::mcp_call::McpCall::parse(operation).map_err(|reason| CoverError::BadOperation {
                endpoint: endpoint.to_owned(),
                reason,
            })?;
            return self
                .match_mcp(&call.method, call.name.as_deref())
                .ok_or_else(|| CoverError::NoRoute {
                    endpoint: endpoint.to_owned(),
                });
        }
        let mut parts = endpoint.split_whitespace();
        let (Some(method), Some(target), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CoverError::BadEndpoint {
                endpoint: endpoint.to_owned(),
            });
        };
        let target = canonicalize(target).map_err(|e| CoverError::BadPath {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?;
        self.match_route(method, &target.path)
            .ok_or_else(|| CoverError::NoRoute {
                endpoint: endpoint.to_owned(),
            })
    }

    /// The smallest scope set that, with `held` (closed under implication),
    /// allows every route: what [`Policy::scopes_for`] and a 403's minimal
    /// challenge compute. Fails with the index of a route no available scope
    /// can allow, and what it needs.
    pub fn cover_routes(
        &self,
        routes: &[RouteId],
        under: CoverFor<'_>,
        held: Option<&ScopeSet>,
    ) -> Result<ScopeSet, (usize, String)> {
        let catalog = &self.catalog;
        let mut candidates = catalog.empty_set();
        for (id, info) in catalog.iter() {
            let grant_ok = under.grant.is_none_or(|g| info.allows_grant(g));
            let env_ok = under.environment.is_none_or(|e| info.available_in(e));
            if grant_ok && env_ok {
                candidates.insert(id);
            }
        }
        // For each scope r: the candidates whose closure contains r.
        let grants_of = |r: ScopeId| -> ScopeSet {
            let mut options = catalog.implied_by(r).clone();
            options.intersect_with(&candidates);
            options
        };

        let mut constraints: Vec<ScopeSet> = Vec::new();
        let holds = |id: ScopeId| held.is_some_and(|h| h.contains(id));
        for (i, &route_id) in routes.iter().enumerate() {
            match &self.route(route_id).requirement {
                Requirement::None | Requirement::Client => {}
                Requirement::AnyOf(any) => {
                    if any.iter().any(holds) {
                        continue;
                    }
                    let mut options = ScopeSet::new();
                    for r in any.iter() {
                        options.union_with(&grants_of(r));
                    }
                    if options.is_empty() {
                        let names: Vec<_> = catalog.names(any).collect();
                        return Err((i, format!("one of {}", names.join(", "))));
                    }
                    constraints.push(options);
                }
                Requirement::AllOf(all) => {
                    for r in all.iter().filter(|&r| !holds(r)) {
                        let options = grants_of(r);
                        if options.is_empty() {
                            return Err((i, catalog.name(r).to_owned()));
                        }
                        constraints.push(options);
                    }
                }
            }
        }
        let constraints = reduce(constraints);
        let cost: Vec<usize> = (0..catalog.len())
            .map(|i| {
                let id = ScopeId(i as u32);
                self.reach(id) as usize * catalog.len() + catalog.closure_of(id).len()
            })
            .collect();
        // Constraints that share no option are independent: solve each group
        // alone, so the work grows with the largest group, not with their product.
        let mut scopes = ScopeSet::new();
        for group in components(constraints) {
            let mut search = Search {
                constraints: &group,
                cost: &cost,
                best: None,
            };
            search.run(ScopeSet::new(), 0, 0);
            if let Some((set, _, _)) = search.best {
                scopes.union_with(&set);
            }
        }
        Ok(scopes)
    }
}

/// Drops duplicate constraints and any constraint whose options include all of
/// another's: meeting the smaller one always meets it.
fn reduce(mut constraints: Vec<ScopeSet>) -> Vec<ScopeSet> {
    constraints.sort_by_key(ScopeSet::len);
    let mut kept: Vec<ScopeSet> = Vec::new();
    for c in constraints {
        if !kept.iter().any(|k| k.is_subset(&c)) {
            kept.push(c);
        }
    }
    kept
}

struct Search<'a> {
    constraints: &'a [ScopeSet],
    cost: &'a [usize],
    /// Best cover so far: (set, size, privilege).
    best: Option<(ScopeSet, usize, usize)>,
}

impl Search<'_> {
    fn run(&mut self, picked: ScopeSet, size: usize, privilege: usize) {
        let open: Vec<&ScopeSet> = self.constraints.iter().filter(|c| !c.intersects(&picked)).collect();
        if open.is_empty() {
            let better = match &self.best {
                None => true,
                Some((best, best_size, best_priv)) => (size, privilege)
                    .cmp(&(*best_size, *best_priv))
                    .then_with(|| order_key(&picked).cmp(&order_key(best)))
                    .is_lt(),
            };
            if better {
                self.best = Some((picked, size, privilege));
            }
            return;
        }
        if let Some((_, best_size, best_priv)) = &self.best {
            let (more, more_priv) = disjoint_lower_bound(&open, self.cost);
            if (size + more, privilege + more_priv) >= (*best_size, *best_priv) {
                return;
            }
        }
        let Some(branch) = open.iter().min_by_key(|c| c.len()) else {
            return;
        };
        let mut options: Vec<ScopeId> = branch.iter().collect();
        // Try the option that meets the most open constraints first, then the cheapest.
        options.sort_by_key(|&o| {
            let meets = open.iter().filter(|c| c.contains(o)).count();
            (std::cmp::Reverse(meets), self.cost[o.index()], o)
        });
        for o in options {
            let mut next = picked.clone();
            next.insert(o);
            self.run(next, size + 1, privilege + self.cost[o.index()]);
        }
    }
}

fn order_key(set: &ScopeSet) -> Vec<ScopeId> {
    set.iter().collect()
}

/// How many open constraints are pairwise disjoint (greedily), and the least
/// privilege they add: each of them needs a scope of its own, costing at least
/// its cheapest option. A lower bound on what completing the cover adds.
fn disjoint_lower_bound(open: &[&ScopeSet], cost: &[usize]) -> (usize, usize) {
    let mut used = ScopeSet::new();
    let (mut count, mut privilege) = (0, 0);
    let mut by_size: Vec<&&ScopeSet> = open.iter().collect();
    by_size.sort_by_key(|c| c.len());
    for c in by_size {
        if !c.intersects(&used) {
            used.union_with(c);
            count += 1;
            privilege += c.iter().map(|o| cost[o.index()]).min().unwrap_or(0);
        }
    }
    (count, privilege)
}

/// Splits constraints into groups that share no option, in a stable order.
fn components(constraints: Vec<ScopeSet>) -> Vec<Vec<ScopeSet>> {
    let mut groups: Vec<(ScopeSet, Vec<ScopeSet>)> = Vec::new();
    for c in constraints {
        let mut merged = (c.clone(), vec![c]);
        let mut i = 0;
        while i < groups.len() {
            if groups[i].0.intersects(&merged.0) {
                let (options, members) = groups.remove(i);
                merged.0.union_with(&options);
                merged.1.extend(members);
            } else {
                i += 1;
            }
        }
        groups.push(merged);
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

impl Policy {
    /// The scopes a 403 on an `[[mcp_route]]` asks for: the smallest set
    /// that, with what the caller holds, allows the operation (implication
    /// honoured; the computation of `scopes-for`), among the scopes of the
    /// gateway's environment.
    pub fn mcp_challenge(&self, route: RouteId, held: &crate::Held) -> crate::ScopeSet {
        let under = crate::CoverFor {
            grant: None,
            environment: Some(&self.settings.gateway.environment),
        };
        self.cover_routes(&[route], under, Some(held.set()))
            .or_else(|_| self.cover_routes(&[route], crate::CoverFor::default(), Some(held.set())))
            .unwrap_or_else(|_| self.missing(route, held))
    }
}
