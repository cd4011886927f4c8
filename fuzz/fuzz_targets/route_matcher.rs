//! The route matcher (a trie) against an exhaustive scan: for any set of
//! routes that loads and any request, the trie picks the route a plain scan
//! for the most specific matching pattern picks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate_core::{MatchPattern, MethodPattern, Policy, Segment};

const METHODS: [&str; 4] = ["GET", "POST", "*", "PUT"];
const PATTERN_SEGMENTS: [&str; 7] = ["a", "zz", "bbb", "Zz", "{p}", "*", "%C3%A9"];
const REQUEST_METHODS: [&str; 4] = ["GET", "POST", "HEAD", "PUT"];
const REQUEST_SEGMENTS: [&str; 7] = ["a", "zz", "ZZ", "bbb", "x", "%C3%A9", "%c3%a9"];

fn matches(p: &MatchPattern, method: &str, segments: &[&str]) -> bool {
    let method_ok = match &p.method {
        MethodPattern::Any => true,
        MethodPattern::Named(n) => &**n == method || (&**n == "GET" && method == "HEAD"),
    };
    for (k, s) in p.segments.iter().enumerate() {
        match s {
            Segment::Rest => return method_ok && segments.len() > k,
            Segment::One(_) if k >= segments.len() => return false,
            Segment::One(_) => {}
            Segment::Literal(l) => {
                if !segments.get(k).is_some_and(|s| s.eq_ignore_ascii_case(l)) {
                    return false;
                }
            }
        }
    }
    method_ok && p.segments.len() == segments.len()
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.iter().copied();
    let mut next = |n: usize| bytes.next().map_or(0, |b| usize::from(b) % n);
    let routes: Vec<String> = (0..1 + next(10))
        .map(|_| {
            let method = METHODS[next(METHODS.len())];
            let segments: Vec<&str> = (0..next(5))
                .map(|_| PATTERN_SEGMENTS[next(PATTERN_SEGMENTS.len())])
                .collect();
            format!("{method} /{}", segments.join("/"))
        })
        .collect();
    let method = REQUEST_METHODS[next(REQUEST_METHODS.len())];
    let request: Vec<&str> = (0..next(6))
        .map(|_| REQUEST_SEGMENTS[next(REQUEST_SEGMENTS.len())])
        .collect();
    let source: String = routes
        .iter()
        .map(|p| format!("[[route]]\nmatch = \"{p}\"\nrequire = \"client\"\n"))
        .collect();
    // Two routes at equal specificity are a load error: nothing to match.
    let Ok(policy) = Policy::compile("fuzz.toml", &source) else {
        return;
    };
    let path = format!("/{}", request.join("/"));
    let Ok(canonical) = scopegate_core::path::canonicalize_path(&path) else {
        return;
    };
    let canonical_segments: Vec<&str> = scopegate_core::path::match_segments(&canonical)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let rank = |p: &MatchPattern| {
        let segments: Vec<u8> = p
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 3,
                Segment::One(_) => 2,
                Segment::Rest => 1,
            })
            .collect();
        let m = match &p.method {
            MethodPattern::Any => 0,
            MethodPattern::Named(n) if &**n == method => 2,
            MethodPattern::Named(_) => 1,
        };
        (segments, m)
    };
    let expected = policy
        .routes()
        .iter()
        .filter_map(|r| r.pattern.http().map(|p| (r, p)))
        .filter(|(_, p)| matches(p, method, &canonical_segments))
        .max_by(|(_, a), (_, b)| rank(a).cmp(&rank(b)))
        .map(|(r, _)| r.pattern.to_string());
    let got = policy
        .match_route(method, &canonical)
        .map(|id| policy.route(id).pattern.to_string());
    assert_eq!(got, expected, "routes {routes:?}, request {method} {path}");
});
