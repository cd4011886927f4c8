//! MCP operations (Model Context Protocol, Streamable HTTP): the
//! `[[mcp_route]]` patterns and the table that finds the most specific one,
//! as docs/mcp.md describes. Reading an operation from a request is
//! [`crate::mcp_call`].
//!
//! An operation is a JSON-RPC method and, for the methods that carry one, a
//! name: the tool of `tools/call`, the prompt of `prompts/get`, the URI of
//! `resources/read`. A pattern names a method (or a method prefix ending in
//! `*`) and optionally a name (or a name prefix ending in `*`). The most
//! specific pattern wins, compared from the left: an exact method beats a
//! method prefix, a longer prefix a shorter one; then an exact name beats a
//! name prefix, which beats no name.

use std::collections::HashMap;
use std::fmt;

use crate::route::RouteId;

/// The header naming the JSON-RPC method of an MCP request.
pub const METHOD_HEADER: &str = "mcp-method";
/// The header naming the tool, prompt or resource of an MCP request.
pub const NAME_HEADER: &str = "mcp-name";

/// The methods that carry a name, and the `params` member it is in.
pub const NAME_BEARING: [(&str, &str); 3] = [
    ("tools/call", "name"),
    ("prompts/get", "name"),
    ("resources/read", "uri"),
];

/// The `params` member holding the name of `method`, if it carries one.
pub fn name_key(method: &str) -> Option<&'static str> {
    NAME_BEARING.iter().find(|(m, _)| *m == method).map(|&(_, key)| key)
}

/// The list methods whose answers are filtered to what the caller may call,
/// the operation each entry stands for, and the entry member naming it.
pub const LISTS: [(&str, &str, &str, &str); 4] = [
    ("tools/list", "tools", "tools/call", "name"),
    ("prompts/list", "prompts", "prompts/get", "name"),
    ("resources/list", "resources", "resources/read", "uri"),
    (
        "resources/templates/list",
        "resourceTemplates",
        "resources/read",
        "uriTemplate",
    ),
];

/// A method or a name in a pattern: exact, or a prefix (`*` at the end).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Text {
    Exact(Box<str>),
    /// Everything starting with this (the pattern's text before its `*`).
    Prefix(Box<str>),
}

impl Text {
    fn parse(text: &str) -> Result<Text, String> {
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(format!("{text:?}: a `*` may only end it (\"tools/*\", \"create_*\")"));
        }
        if body.chars().any(|c| c.is_control()) {
            return Err(format!("{text:?} holds a control character"));
        }
        Ok(if prefix {
            Text::Prefix(body.into())
        } else {
            Text::Exact(body.into())
        })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Text::Exact(e) => **e == *text,
            Text::Prefix(p) => text.starts_with(&**p),
        }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Text::Exact(e) => f.write_str(e),
            Text::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// A parsed `[[mcp_route]]` `match` string such as `tools/call create_order`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct McpPattern {
    pub method: Text,
    /// `None`: any name, or none (a bare method, or a name of `*`).
    pub name: Option<Text>,
}

impl McpPattern {
    pub fn parse(text: &str) -> Result<McpPattern, String> {
        let mut parts = text.split_whitespace();
        let (Some(method), name, None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("expected \"<JSON-RPC method> [<name or URI>]\" such as \"tools/call create_order\"".into());
        };
        let method = Text::parse(method).map_err(|e| format!("the method {e}"))?;
        if let Text::Exact(m) = &method
            && m.is_empty()
        {
            return Err("the method is empty".into());
        }
        let name = match name.map(Text::parse).transpose().map_err(|e| format!("the name {e}"))? {
            Some(Text::Prefix(p)) if p.is_empty() => None,
            other => other,
        };
        if let (Some(_), Text::Exact(m)) = (&name, &method)
            && name_key(m).is_none()
        {
            return Err(format!(
                "{m} carries no name: only tools/call, prompts/get (a name) and resources/read (a URI) do"
            ));
        }
        Ok(McpPattern { method, name })
    }

    /// Whether the pattern matches an operation.
    pub fn matches(&self, method: &str, name: Option<&str>) -> bool {
        self.method.matches(method)
            && match (&self.name, name) {
                (None, _) => true,
                (Some(pattern), Some(name)) => pattern.matches(name),
                (Some(_), None) => false,
            }
    }
}

impl fmt::Display for McpPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => write!(f, "{}", self.method),
            Some(name) => write!(f, "{} {name}", self.method),
        }
    }
}

/// The routes of one method (or method prefix), by name.
#[derive(Default, Debug)]
struct Names {
    exact: HashMap<Box<str>, RouteId>,
    /// Longest first.
    prefixes: Vec<(Box<str>, RouteId)>,
    any: Option<RouteId>,
}

impl Names {
    fn find(&self, name: Option<&str>) -> Option<RouteId> {
        if let Some(name) = name {
            if let Some(&route) = self.exact.get(name) {
                return Some(route);
            }
            if let Some(&(_, route)) = self.prefixes.iter().find(|(p, _)| name.starts_with(&**p)) {
                return Some(route);
            }
        }
        self.any
    }

    fn insert(&mut self, name: &Option<Text>, route: RouteId) -> Result<(), RouteId> {
        match name {
            None => match self.any.replace(route) {
                Some(existing) => {
                    self.any = Some(existing);
                    Err(existing)
                }
                None => Ok(()),
            },
            Some(Text::Exact(n)) => match self.exact.get(n) {
                Some(&existing) => Err(existing),
                None => {
                    self.exact.insert(n.clone(), route);
                    Ok(())
                }
            },
            Some(Text::Prefix(p)) => insert_prefix(&mut self.prefixes, p, route),
        }
    }
}

fn insert_prefix<T>(list: &mut Vec<(Box<str>, T)>, prefix: &str, value: T) -> Result<(), T>
where
    T: Copy,
{
    if let Some((_, existing)) = list.iter().find(|(p, _)| **p == *prefix) {
        return Err(*existing);
    }
    let at = list.partition_point(|(p, _)| p.len() >= prefix.len());
    list.insert(at, (prefix.into(), value));
    Ok(())
}

/// The compiled `[[mcp_route]]` table. Finding a route allocates nothing.
#[derive(Default, Debug)]
pub(crate) struct McpRouter {
    exact: HashMap<Box<str>, Names>,
    /// Method prefixes, longest first, each with its routes.
    prefixes: Vec<(Box<str>, usize)>,
    prefix_names: Vec<Names>,
}

impl McpRouter {
    /// Adds a route; fails with the route that matches exactly the same
    /// operations with the same specificity.
    pub(crate) fn insert(&mut self, pattern: &McpPattern, route: RouteId) -> Result<(), RouteId> {
        match &pattern.method {
            Text::Exact(m) => self.exact.entry(m.clone()).or_default().insert(&pattern.name, route),
            Text::Prefix(p) => {
                let index = match self.prefixes.iter().find(|(q, _)| **q == **p) {
                    Some(&(_, i)) => i,
                    None => {
                        self.prefix_names.push(Names::default());
                        let i = self.prefix_names.len() - 1;
                        let _ = insert_prefix(&mut self.prefixes, p, i);
                        i
                    }
                };
                self.prefix_names[index].insert(&pattern.name, route)
            }
        }
    }

    /// The most specific route for an operation.
    pub(crate) fn find(&self, method: &str, name: Option<&str>) -> Option<RouteId> {
        if let Some(found) = self.exact.get(method).and_then(|names| names.find(name)) {
            return Some(found);
        }
        self.prefixes
            .iter()
            .filter(|(p, _)| method.starts_with(&**p))
            .find_map(|&(_, i)| self.prefix_names[i].find(name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn router(patterns: &[&str]) -> McpRouter {
        let mut r = McpRouter::default();
        for (i, p) in patterns.iter().enumerate() {
            r.insert(&McpPattern::parse(p).unwrap(), RouteId(i as u32)).unwrap();
        }
        r
    }

    #[test]
    fn the_most_specific_mcp_route_wins() {
        let r = router(&[
            "tools/call create_order",
            "tools/call create_*",
            "tools/call",
            "tools/*",
            "*",
            "tools/call c*",
        ]);
        let at = |m: &str, n: Option<&str>| r.find(m, n).map(|id| id.index());
        assert_eq!(at("tools/call", Some("create_order")), Some(0));
        assert_eq!(at("tools/call", Some("create_refund")), Some(1));
        assert_eq!(at("tools/call", Some("cancel")), Some(5));
        assert_eq!(at("tools/call", Some("list_orders")), Some(2));
        assert_eq!(at("tools/list", None), Some(3));
        assert_eq!(at("ping", None), Some(4));
    }

    #[test]
    fn a_name_of_star_is_the_bare_method() {
        assert_eq!(
            McpPattern::parse("tools/call *").unwrap(),
            McpPattern::parse("tools/call").unwrap()
        );
        let mut r = router(&["tools/call"]);
        assert!(
            r.insert(&McpPattern::parse("tools/call *").unwrap(), RouteId(1))
                .is_err()
        );
    }

    #[test]
    fn mcp_patterns_that_are_malformed_are_refused() {
        for bad in [
            "",
            "tools/call a b",
            "tools/*/call",
            "tools/call a*b",
            "tools/list name",
        ] {
            assert!(McpPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
