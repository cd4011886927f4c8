//! Route matching and precedence (docs/policy.md): one rule per case.

use proptest::prelude::*;

use crate::policy;

/// A policy whose routes are `require = "client"`, one per pattern.
fn table(patterns: &[&str]) -> scopegate_core::Policy {
    let routes: String = patterns
        .iter()
        .map(|p| format!("[[route]]\nmatch = \"{p}\"\nrequire = \"client\"\n\n"))
        .collect();
    policy(&routes)
}

/// Which pattern wins for `method path`, as written in the table.
fn winner(patterns: &[&str], method: &str, path: &str) -> Option<String> {
    let p = table(patterns);
    p.match_route(method, path).map(|id| p.route(id).pattern.to_string())
}

#[test]
fn literal_beats_param_beats_rest() {
    let t = ["GET /products/mine", "GET /products/{id}", "GET /products/*"];
    assert_eq!(
        winner(&t, "GET", "/products/mine").as_deref(),
        Some("GET /products/mine")
    );
    assert_eq!(winner(&t, "GET", "/products/42").as_deref(), Some("GET /products/{id}"));
    assert_eq!(winner(&t, "GET", "/products/42/x").as_deref(), Some("GET /products/*"));
}

#[test]
fn earlier_segments_decide_before_later_ones() {
    let t = ["GET /a/{x}/c", "GET /{y}/b/c"];
    assert_eq!(winner(&t, "GET", "/a/b/c").as_deref(), Some("GET /a/{x}/c"));
}

#[test]
fn longer_beats_shorter() {
    let t = ["GET /reviews/*", "GET /reviews/*/response"];
    assert_eq!(
        winner(&t, "GET", "/reviews/7/response").as_deref(),
        Some("GET /reviews/*/response")
    );
    assert_eq!(winner(&t, "GET", "/reviews/7/other").as_deref(), Some("GET /reviews/*"));
}

#[test]
fn named_method_beats_any_method() {
    let t = ["GET /events/*", "* /events/*"];
    assert_eq!(winner(&t, "GET", "/events/1").as_deref(), Some("GET /events/*"));
    assert_eq!(winner(&t, "POST", "/events/1").as_deref(), Some("* /events/*"));
}

#[test]
fn path_specificity_beats_method_specificity() {
    let t = ["* /a/b", "GET /a/{x}"];
    assert_eq!(winner(&t, "GET", "/a/b").as_deref(), Some("* /a/b"));
}

#[test]
fn a_route_for_another_method_falls_back_to_a_less_specific_path() {
    let t = ["GET /a/b", "POST /a/{x}"];
    assert_eq!(winner(&t, "POST", "/a/b").as_deref(), Some("POST /a/{x}"));
}

#[test]
fn get_also_covers_head() {
    assert_eq!(winner(&["GET /x"], "HEAD", "/x").as_deref(), Some("GET /x"));
    assert_eq!(winner(&["GET /x", "HEAD /x"], "HEAD", "/x").as_deref(), Some("HEAD /x"));
    assert_eq!(winner(&["GET /x", "* /x"], "HEAD", "/x").as_deref(), Some("GET /x"));
    assert_eq!(winner(&["GET /x"], "POST", "/x"), None);
}

#[test]
fn trailing_slash_is_insignificant() {
    assert_eq!(
        winner(&["GET /account"], "GET", "/account/").as_deref(),
        Some("GET /account")
    );
    assert_eq!(
        winner(&["GET /account/"], "GET", "/account").as_deref(),
        Some("GET /account")
    );
}

#[test]
fn trailing_star_needs_at_least_one_segment() {
    assert_eq!(winner(&["GET /data/*"], "GET", "/data"), None);
    assert_eq!(winner(&["GET /data/*"], "GET", "/data/"), None);
    assert_eq!(
        winner(&["GET /data/*"], "GET", "/data/a/b/c").as_deref(),
        Some("GET /data/*")
    );
}

#[test]
fn inner_star_and_param_match_exactly_one_segment() {
    let t = ["POST /reviews/*/response", "PUT /products/{product_id}"];
    assert!(winner(&t, "POST", "/reviews/1/response").is_some());
    assert!(winner(&t, "POST", "/reviews/1/2/response").is_none());
    assert!(winner(&t, "PUT", "/products").is_none());
    assert!(winner(&t, "PUT", "/products/1/2").is_none());
}

#[test]
fn prefix_is_segment_aware() {
    let t = ["GET /admin", "GET /admin/*"];
    assert_eq!(winner(&t, "GET", "/administrator"), None);
    assert_eq!(winner(&t, "GET", "/admin-x/1"), None);
}

#[test]
fn literals_match_ascii_case_insensitively() {
    // An upstream that folds case must never see /ADMIN under a weaker route.
    let t = ["GET /admin", "GET /{page}"];
    assert_eq!(winner(&t, "GET", "/ADMIN").as_deref(), Some("GET /admin"));
    assert_eq!(winner(&t, "GET", "/Admin").as_deref(), Some("GET /admin"));
}

#[test]
fn root_route_matches_only_root() {
    let t = ["GET /"];
    assert!(winner(&t, "GET", "/").is_some());
    assert!(winner(&t, "GET", "/x").is_none());
}

#[test]
fn methods_are_case_sensitive() {
    assert_eq!(winner(&["GET /x"], "get", "/x"), None);
}

proptest! {
    /// The trie agrees with a plain scan that picks the most specific matching route.
    #[test]
    fn trie_agrees_with_exhaustive_specificity_scan(
        routes in proptest::collection::btree_set(("(GET|POST|\\*)", proptest::collection::vec("(a|zz|bbb|Zz|\\{p\\}|\\*)", 0..4)), 1..12),
        request in proptest::collection::vec("(a|zz|ZZ|bbb|x)", 0..5),
        method in "(GET|POST|HEAD|PUT)",
    ) {
        use scopegate_core::{MatchPattern, Segment};
        // Build patterns; skip sets with duplicates at equal specificity (a load error).
        let patterns: Vec<String> = routes.iter().map(|(m, segs)| format!("{m} /{}", segs.join("/"))).collect();
        let source: String = patterns.iter().map(|p| format!("[[route]]\nmatch = \"{p}\"\nrequire = \"client\"\n")).collect();
        let compiled = scopegate_core::Policy::compile("t.toml", &source);
        prop_assume!(compiled.is_ok(), "two routes of equal specificity are a load error");
        let policy = compiled.unwrap();
        let path = format!("/{}", request.join("/"));
        let matches = |p: &MatchPattern| -> bool {
            let segs: Vec<&str> = request.iter().map(String::as_str).collect();
            let method_ok = match &p.method {
                scopegate_core::MethodPattern::Any => true,
                scopegate_core::MethodPattern::Named(n) => &**n == method || (&**n == "GET" && method == "HEAD"),
            };
            let mut i = 0;
            for (k, s) in p.segments.iter().enumerate() {
                match s {
                    Segment::Rest => return method_ok && segs.len() > k,
                    Segment::One(_) => if i >= segs.len() { return false },
                    Segment::Literal(l) => if !segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(l)) { return false },
                }
                i += 1;
            }
            method_ok && i == segs.len()
        };
        let key = |p: &MatchPattern| {
            let ranks: Vec<u8> = p.segments.iter().map(|s| match s { Segment::Literal(_) => 3, Segment::One(_) => 2, Segment::Rest => 1 }).collect();
            let m = match &p.method { scopegate_core::MethodPattern::Any => 0, scopegate_core::MethodPattern::Named(n) if &**n == method => 2, _ => 1 };
            (ranks, m)
        };
        let expected = policy.routes().iter().filter(|r| r.pattern.http().is_some_and(&matches)).max_by(|a, b| key(a.pattern.http().unwrap()).cmp(&key(b.pattern.http().unwrap()))).map(|r| r.pattern.to_string());
        let got = policy.match_route(&method, &path).map(|id| policy.route(id).pattern.to_string());
        prop_assert_eq!(got, expected);
    }
}
