//! Routes: `match` strings compiled into a segment trie where the most specific
//! route wins. Specificity, compared from the left: a literal segment beats a
//! one-segment wildcard (`{name}` or an inner `*`), which beats a trailing `*`;
//! then a route for the request's method beats `GET` standing in for `HEAD`,
//! which beats `*`. Because every path position is compared before the method,
//! a depth-first walk that tries children in that order finds the winner first.

use std::cmp::Ordering;
use std::fmt;

use crate::path::{canonicalize_path, match_segments};
use crate::scopeset::ScopeSet;

/// What a route demands of the caller.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Requirement {
    /// No credentials are examined.
    None,
    /// Any authenticated client, whatever its scope.
    Client,
    /// Holding any one of these scopes (after implication) suffices.
    AnyOf(ScopeSet),
    /// Every one of these scopes is needed.
    AllOf(ScopeSet),
}

impl Requirement {
    /// Whether a caller holding `held` (closed) satisfies a scope requirement.
    /// `None` and `Client` are satisfied by any authenticated caller.
    pub fn satisfied_by(&self, held: &ScopeSet) -> bool {
        match self {
            Requirement::None | Requirement::Client => true,
            Requirement::AnyOf(any) => any.intersects(held),
            Requirement::AllOf(all) => all.is_subset(held),
        }
    }

    /// The scopes the route names, if any.
    pub fn scopes(&self) -> Option<&ScopeSet> {
        match self {
            Requirement::AnyOf(s) | Requirement::AllOf(s) => Some(s),
            _ => None,
        }
    }
}

/// The method part of a `match` string.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MethodPattern {
    Any,
    Named(Box<str>),
}

impl fmt::Display for MethodPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodPattern::Any => f.write_str("*"),
            MethodPattern::Named(m) => f.write_str(m),
        }
    }
}

/// One segment of a route path.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Segment {
    /// Canonical text, matched ASCII case-insensitively.
    Literal(Box<str>),
    /// `{name}` or an inner `*`: exactly one segment.
    One(Option<Box<str>>),
    /// A trailing `*`: one or more segments.
    Rest,
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::One(_) => 1,
            Segment::Rest => 0,
        }
    }
}

/// A parsed `match` string such as `PUT /products/{product_id}`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MatchPattern {
    pub method: MethodPattern,
    pub segments: Vec<Segment>,
}

/// Why a `match` string is malformed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PatternError {
    #[error("expected \"METHOD PATH\" such as \"GET /account/*\"")]
    Shape,
    #[error("method {0:?} must be `*` or an upper-case HTTP method such as GET")]
    Method(String),
    #[error("the path must start with '/'")]
    NoLeadingSlash,
    #[error("empty segment ('//') in the path")]
    EmptySegment,
    #[error("segment {0:?} mixes a wildcard with text: a segment is a literal, `{{name}}` or `*`")]
    MixedSegment(String),
    #[error("parameter name {0:?} must be letters, digits and '_', not starting with a digit")]
    ParamName(String),
    #[error("parameter `{{{0}}}` appears twice")]
    DuplicateParam(String),
    #[error("segment {segment:?} is not a canonical path segment: {reason}")]
    Literal { segment: String, reason: String },
}

impl MatchPattern {
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        let mut parts = s.split_whitespace();
        let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PatternError::Shape);
        };
        let method = match method {
            "*" => MethodPattern::Any,
            m if m.bytes().all(|b| b.is_ascii_uppercase()) => MethodPattern::Named(m.into()),
            m => return Err(PatternError::Method(m.to_owned())),
        };
        let Some(body) = path.strip_prefix('/') else {
            return Err(PatternError::NoLeadingSlash);
        };
        let body = body.strip_suffix('/').unwrap_or(body);
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        if !body.is_empty() {
            let raw: Vec<&str> = body.split('/').collect();
            for (i, seg) in raw.iter().enumerate() {
                let last = i + 1 == raw.len();
                segments.push(match *seg {
                    "" => return Err(PatternError::EmptySegment),
                    "*" if last => Segment::Rest,
                    "*" => Segment::One(None),
                    s if s.starts_with('{') && s.ends_with('}') && s.len() > 2 => {
                        let name = &s[1..s.len() - 1];
                        let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                            && !name.starts_with(|c: char| c.is_ascii_digit());
                        if !valid {
                            return Err(PatternError::ParamName(name.to_owned()));
                        }
                        if names.contains(&name) {
                            return Err(PatternError::DuplicateParam(name.to_owned()));
                        }
                        names.push(name);
                        Segment::One(Some(name.into()))
                    }
                    s if s.contains(['{', '}', '*']) => {
                        return Err(PatternError::MixedSegment(s.to_owned()));
                    }
                    s => {
                        let path = format!("/{s}");
                        let canonical = canonicalize_path(&path).map_err(|e| PatternError::Literal {
                            segment: s.to_owned(),
                            reason: e.to_string(),
                        })?;
                        Segment::Literal(canonical[1..].into())
                    }
                });
            }
        }
        Ok(Self { method, segments })
    }

    /// Orders two patterns by specificity, most specific greatest. Patterns
    /// that compare equal and have equal literals match the same requests.
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.segments.iter().zip(&other.segments) {
            match a.rank().cmp(&b.rank()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        self.segments
            .len()
            .cmp(&other.segments.len())
            .then_with(|| method_rank(&self.method).cmp(&method_rank(&other.method)))
    }
}

fn method_rank(m: &MethodPattern) -> u8 {
    match m {
        MethodPattern::Any => 0,
        MethodPattern::Named(_) => 1,
    }
}

impl fmt::Display for MatchPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.method)?;
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => write!(f, "/{l}")?,
                Segment::One(Some(n)) => write!(f, "/{{{n}}}")?,
                Segment::One(None) | Segment::Rest => f.write_str("/*")?,
            }
        }
        Ok(())
    }
}

/// Index of a route in its policy.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RouteId(pub(crate) u32);

impl RouteId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Routes ending at one trie position, by method.
#[derive(Default, Debug)]
struct Methods {
    named: Vec<(Box<str>, RouteId)>,
    any: Option<RouteId>,
}

impl Methods {
    fn lookup(&self, method: &str) -> Option<RouteId> {
        let named = |m: &str| self.named.iter().find(|(n, _)| &**n == m).map(|&(_, r)| r);
        named(method)
            .or_else(|| if method == "HEAD" { named("GET") } else { None })
            .or(self.any)
    }

    /// Adds `route`, or returns the route already holding that slot.
    fn insert(&mut self, method: &MethodPattern, route: RouteId) -> Result<(), RouteId> {
        match method {
            MethodPattern::Any => match self.any {
                Some(existing) => Err(existing),
                None => {
                    self.any = Some(route);
                    Ok(())
                }
            },
            MethodPattern::Named(m) => match self.named.iter().find(|(n, _)| n == m) {
                Some(&(_, existing)) => Err(existing),
                None => {
                    self.named.push((m.clone(), route));
                    Ok(())
                }
            },
        }
    }
}

#[derive(Default, Debug)]
struct Node {
    /// Literal children: (case-folded hash, lower-cased text, child), sorted by
    /// hash then [`literal_order`]. A binary search compares integers held
    /// inline and touches one string at the end.
    literals: Vec<(u64, Box<str>, u32)>,
    one: Option<u32>,
    /// Routes whose path ends here.
    exact: Methods,
    /// Routes with a trailing `*` here.
    rest: Methods,
}

/// Compiled route table: a segment trie. Matching allocates nothing.
#[derive(Debug)]
pub(crate) struct Router {
    nodes: Vec<Node>,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
        }
    }
}

impl Node {
    fn find_literal(&self, segment: &str) -> Result<usize, usize> {
        let hash = fold_hash(segment);
        self.literals
            .binary_search_by(|(h, l, _)| h.cmp(&hash).then_with(|| literal_order(l, segment)))
    }
}

/// FNV-1a over ASCII-lower-cased bytes: equal for segments that match.
fn fold_hash(segment: &str) -> u64 {
    segment.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The order of literal children with equal hashes: by length, then ASCII-case-insensitively by
/// bytes. Length first makes most comparisons of a binary search one integer test.
fn literal_order(stored_lower: &str, segment: &str) -> Ordering {
    let (a, b) = (stored_lower.as_bytes(), segment.as_bytes());
    match a.len().cmp(&b.len()) {
        Ordering::Equal => {}
        o => return o,
    }
    for (&x, &y) in a.iter().zip(b) {
        let y = y.to_ascii_lowercase();
        if x != y {
            return x.cmp(&y);
        }
    }
    Ordering::Equal
}

impl Router {
    /// Adds a route. Fails with the route that already matches exactly the same
    /// requests with the same specificity.
    pub(crate) fn insert(&mut self, pattern: &MatchPattern, route: RouteId) -> Result<(), RouteId> {
        let mut node = 0usize;
        for seg in &pattern.segments {
            node = match seg {
                Segment::Rest => return self.nodes[node].rest.insert(&pattern.method, route),
                Segment::One(_) => match self.nodes[node].one {
                    Some(child) => child as usize,
                    None => {
                        let child = self.push_node();
                        self.nodes[node].one = Some(child);
                        child as usize
                    }
                },
                Segment::Literal(text) => {
                    let lower = text.to_ascii_lowercase();
                    match self.nodes[node].find_literal(&lower) {
                        Ok(at) => self.nodes[node].literals[at].2 as usize,
                        Err(at) => {
                            let child = self.push_node();
                            let hash = fold_hash(&lower);
                            self.nodes[node].literals.insert(at, (hash, lower.into(), child));
                            child as usize
                        }
                    }
                }
            };
        }
        self.nodes[node].exact.insert(&pattern.method, route)
    }

    fn push_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    /// The most specific route for `method` and a canonical path.
    pub(crate) fn find(&self, method: &str, canonical_path: &str) -> Option<RouteId> {
        self.walk(0, match_segments(canonical_path), method)
    }

    fn walk(&self, node: usize, rest: &str, method: &str) -> Option<RouteId> {
        let n = &self.nodes[node];
        if rest.is_empty() {
            return n.exact.lookup(method);
        }
        let (seg, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if let Ok(at) = n.find_literal(seg)
            && let Some(found) = self.walk(n.literals[at].2 as usize, tail, method)
        {
            return Some(found);
        }
        if let Some(child) = n.one
            && let Some(found) = self.walk(child as usize, tail, method)
        {
            return Some(found);
        }
        n.rest.lookup(method)
    }

    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}
