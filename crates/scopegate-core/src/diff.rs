//! Who can call what, before and after a policy change (`scopegate diff`).
//! Computed on access, not on text: a reordered file, reworded descriptions
//! or a renamed path parameter change nothing here.
//!
//! Whether a route's new requirement admits someone the old one did not is
//! decided exactly by a witness search. Admission only grows with what a
//! caller is granted, so it is enough to try the smallest grants the new
//! requirement admits: for `any_of`, each single scope whose closure meets the
//! set; for `all_of`, each choice of one scope implying each required one
//! (past [`MAX_WITNESSES`] choices the route is reported as widened, never as
//! unchanged). A witness the old requirement refuses is a widening, and it is
//! shown. The same search the other way finds narrowings.

use std::collections::BTreeMap;

use crate::mcp::{McpPattern, Text, name_key};
use crate::policy::RoutePattern;
use crate::route::{MatchPattern, Requirement, Segment};
use crate::{Policy, ScopeSet};

/// Grant sets tried per route and direction before giving up on exactness.
pub const MAX_WITNESSES: usize = 4096;

/// One difference in access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `route` or `scope`.
    pub kind: &'static str,
    /// The route's `METHOD PATH`, or the scope's name.
    pub subject: String,
    pub before: String,
    pub after: String,
    /// Whether someone is let in who was not.
    pub widens: bool,
    /// Whether someone is kept out who was let in.
    pub narrows: bool,
    /// Who, for example `a caller granted ["public:read"]`.
    pub why: String,
    /// Of a route finding: the route its requests take before and after
    /// (indexes into each policy's routes; `None`: no route).
    pub routes: Option<(Option<usize>, Option<usize>)>,
}

impl Finding {
    /// Whether a client holding `grants` (scope names, as an app is
    /// assigned them) is let in on this route finding's requests by `old`
    /// and kept out by `new`: the apps that start getting 403s. Always
    /// false for a scope finding.
    pub fn keeps_out(&self, old: &Policy, new: &Policy, grants: &[String]) -> bool {
        let Some((before, after)) = self.routes else {
            return false;
        };
        let side = |p: &'_ Policy, route: Option<usize>| -> Option<bool> {
            let route = route?;
            let requirement = &p.routes().get(route)?.requirement;
            Some(admits(Some((p, requirement)), grants))
        };
        side(old, before) == Some(true) && side(new, after) != Some(true)
    }
}

/// A route's key: its method and its segments, parameters unnamed; an
/// `[[mcp_route]]`'s: `mcp` and its operation.
fn key(pattern: &RoutePattern) -> String {
    match pattern {
        RoutePattern::Http(p) => http_key(p),
        RoutePattern::Mcp(p) => format!("mcp {p}"),
    }
}

fn http_key(pattern: &MatchPattern) -> String {
    let mut out = format!("{} ", pattern.method);
    if pattern.segments.is_empty() {
        out.push('/');
    }
    for segment in &pattern.segments {
        match segment {
            Segment::Literal(l) => {
                out.push('/');
                out.push_str(l);
            }
            Segment::One(_) => out.push_str("/{}"),
            Segment::Rest => out.push_str("/*"),
        }
    }
    out
}

/// A request (or MCP operation) a pattern matches.
enum Example {
    Http(String, String),
    Mcp(String, Option<String>),
}

impl Example {
    fn of(pattern: &RoutePattern) -> Example {
        match pattern {
            RoutePattern::Http(p) => {
                let (method, path) = example(p);
                Example::Http(method, path)
            }
            RoutePattern::Mcp(p) => mcp_example(p),
        }
    }

    /// The route it takes on `policy`, if any.
    fn route(&self, policy: &Policy) -> Option<usize> {
        match self {
            Example::Http(method, path) => policy.resolve(method, path).ok().and_then(|r| r.route),
            Example::Mcp(method, name) => policy.match_mcp(method, name.as_deref()),
        }
        .map(|r| r.index())
    }
}

fn mcp_example(pattern: &McpPattern) -> Example {
    let fill = |t: &Text| match t {
        Text::Exact(e) => e.to_string(),
        Text::Prefix(p) => format!("{p}x1"),
    };
    let method = fill(&pattern.method);
    let name = match &pattern.name {
        Some(name) => Some(fill(name)),
        None => name_key(&method).map(|_| "x1".to_owned()),
    };
    Example::Mcp(method, name)
}

fn example(pattern: &MatchPattern) -> (String, String) {
    let method = match pattern.method.to_string().as_str() {
        "*" => "GET".to_owned(),
        m => m.to_owned(),
    };
    let mut path = String::new();
    for segment in &pattern.segments {
        path.push('/');
        match segment {
            Segment::Literal(l) => path.push_str(l),
            Segment::One(_) | Segment::Rest => path.push_str("x1"),
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    (method, path)
}

/// What a side requires of a request; `None` when no route matches (no one
/// gets in).
type Side<'p> = Option<(&'p Policy, &'p Requirement)>;

fn describe(policy: &Policy, requirement: Option<&Requirement>) -> String {
    let names = |set: &ScopeSet| policy.catalog.names(set).collect::<Vec<_>>().join(", ");
    match requirement {
        None => "no route (404)".into(),
        Some(Requirement::None) => "anyone (require = \"none\")".into(),
        Some(Requirement::Client) => "any client (require = \"client\")".into(),
        Some(Requirement::AnyOf(s)) => format!("any_of [{}]", names(s)),
        Some(Requirement::AllOf(s)) => format!("all_of [{}]", names(s)),
    }
}

/// Whether a client granted `grants` (scope names) gets in on `side`.
fn admits(side: Side<'_>, grants: &[String]) -> bool {
    let Some((policy, requirement)) = side else {
        return false;
    };
    let mut held = ScopeSet::new();
    for grant in grants {
        if let Some(id) = policy.catalog.lookup(grant) {
            held.union_with(policy.catalog.closure_of(id));
        }
    }
    requirement.satisfied_by(&held)
}

/// The smallest grants `side` admits (an authenticated client's), or `None`
/// past [`MAX_WITNESSES`].
fn witnesses(side: Side<'_>) -> Option<Vec<Vec<String>>> {
    let Some((policy, requirement)) = side else {
        return Some(Vec::new());
    };
    let catalog = &policy.catalog;
    let impliers = |id| {
        catalog
            .names(catalog.implied_by(id))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    match requirement {
        Requirement::None | Requirement::Client => Some(vec![Vec::new()]),
        Requirement::AnyOf(any) => {
            let mut singles: Vec<String> = any.iter().flat_map(impliers).collect();
            singles.sort();
            singles.dedup();
            Some(singles.into_iter().map(|g| vec![g]).collect())
        }
        Requirement::AllOf(all) => {
            let mut combos: Vec<Vec<String>> = vec![Vec::new()];
            for id in all.iter() {
                let options = impliers(id);
                if combos.len() * options.len() > MAX_WITNESSES {
                    return None;
                }
                combos = combos
                    .iter()
                    .flat_map(|c| {
                        options.iter().map(move |o| {
                            let mut next = c.clone();
                            if !next.contains(o) {
                                next.push(o.clone());
                            }
                            next
                        })
                    })
                    .collect();
            }
            Some(combos)
        }
    }
}

/// Someone `after` lets in whom `before` does not: who, if anyone.
fn let_in(before: Side<'_>, after: Side<'_>) -> Option<String> {
    let anonymous = |side: Side<'_>| matches!(side, Some((_, Requirement::None)));
    // No route after: no one gets in.
    after?;
    if anonymous(after) && !anonymous(before) {
        return Some("a caller with no credentials".into());
    }
    match witnesses(after) {
        None => Some(format!(
            "possibly some caller (more than {MAX_WITNESSES} grant sets to try)"
        )),
        Some(grants) => grants.into_iter().find(|g| !admits(before, g)).map(|g| {
            if g.is_empty() {
                "a client granted no scope".to_owned()
            } else {
                format!("a client granted {g:?}")
            }
        }),
    }
}

/// Every difference in access between `old` and `new`: routes first (in the
/// order of their `METHOD PATH`), then scopes.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Finding> {
    let routes = |p: &Policy| -> BTreeMap<String, usize> {
        p.routes()
            .iter()
            .enumerate()
            .map(|(i, r)| (key(&r.pattern), i))
            .collect()
    };
    let (old_routes, new_routes) = (routes(old), routes(new));
    let mut keys: Vec<&String> = old_routes.keys().chain(new_routes.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut findings = Vec::new();
    for k in keys {
        let (o, n) = (old_routes.get(k), new_routes.get(k));
        // A route on one side only is compared with what the other side does
        // with a request it matches.
        let pattern = &o
            .map_or_else(|| &new.routes()[n.copied().unwrap_or(0)], |&i| &old.routes()[i])
            .pattern;
        let example = Example::of(pattern);
        let side = |p: &'_ Policy, own: Option<&usize>| -> Option<usize> { own.copied().or_else(|| example.route(p)) };
        let (before_route, after_route) = (side(old, o), side(new, n));
        let before: Side<'_> = before_route.map(|i| (old, &old.routes()[i].requirement));
        let after: Side<'_> = after_route.map(|i| (new, &new.routes()[i].requirement));
        let widened = let_in(before, after);
        let narrowed = let_in(after, before);
        // On the side without this route, its requests went (or go) to
        // another route, named, or to none.
        let told = |p: &Policy, own: Option<&usize>, taken: Option<usize>, side: Side<'_>| {
            let text = describe(p, side.map(|s| s.1));
            match (own, taken) {
                (None, Some(i)) => format!("{text} (through {})", p.routes()[i].pattern),
                _ => text,
            }
        };
        let (b, a) = (told(old, o, before_route, before), told(new, n, after_route, after));
        if widened.is_none() && narrowed.is_none() && (o.is_some() == n.is_some()) {
            continue;
        }
        let subject = new_routes.get(k).map_or_else(
            || old.routes()[o.copied().unwrap_or(0)].pattern.to_string(),
            |&i| new.routes()[i].pattern.to_string(),
        );
        let mut why = Vec::new();
        if let Some(w) = &widened {
            why.push(format!("now lets in {w}"));
        }
        if let Some(n) = &narrowed {
            why.push(format!("now keeps out {n}"));
        }
        if why.is_empty() {
            why.push(
                if o.is_none() {
                    "a new route, as the old policy required"
                } else {
                    "route removed, the same access through another"
                }
                .into(),
            );
        }
        findings.push(Finding {
            kind: "route",
            subject,
            before: b,
            after: a,
            widens: widened.is_some(),
            narrows: narrowed.is_some(),
            why: why.join("; "),
            routes: Some((before_route, after_route)),
        });
    }
    findings.extend(scopes(old, new));
    findings
}

/// Scopes added, removed, or implying more or less.
fn scopes(old: &Policy, new: &Policy) -> Vec<Finding> {
    let implied = |p: &Policy, name: &str| -> Option<Vec<String>> {
        let id = p.catalog.lookup(name)?;
        let mut names: Vec<String> = p.catalog.names(p.catalog.closure_of(id)).map(str::to_owned).collect();
        names.sort();
        Some(names)
    };
    let mut names: Vec<String> = old
        .catalog
        .iter()
        .chain(new.catalog.iter())
        .map(|(_, info)| info.name.to_string())
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let (before, after) = (implied(old, &name), implied(new, &name));
        let finding = |before: String, after: String, widens: bool, narrows: bool, why: String| Finding {
            kind: "scope",
            subject: name.clone(),
            before,
            after,
            widens,
            narrows,
            why,
            routes: None,
        };
        match (before, after) {
            (Some(_), None) => out.push(finding(
                "declared".into(),
                "removed".into(),
                false,
                true,
                "tokens carrying it hold nothing by it".into(),
            )),
            (None, Some(_)) => out.push(finding(
                "not declared".into(),
                "declared".into(),
                false,
                false,
                "a new scope".into(),
            )),
            (Some(b), Some(a)) if a != b => {
                let grew: Vec<&String> = a.iter().filter(|s| !b.contains(s)).collect();
                let shrank: Vec<&String> = b.iter().filter(|s| !a.contains(s)).collect();
                let mut why = Vec::new();
                if !grew.is_empty() {
                    why.push(format!("now implies {grew:?}"));
                }
                if !shrank.is_empty() {
                    why.push(format!("no longer implies {shrank:?}"));
                }
                out.push(finding(
                    format!("{b:?}"),
                    format!("{a:?}"),
                    !grew.is_empty(),
                    !shrank.is_empty(),
                    why.join("; "),
                ));
            }
            _ => {}
        }
    }
    out
}
