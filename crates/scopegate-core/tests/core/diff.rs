//! `scopegate diff`: access, not text. Each kind of change, and the changes
//! that are none.

use scopegate_core::Policy;
use scopegate_core::diff::{Finding, diff};

const SCOPES: &str = r#"
[[scope]]
name = "account"
levels = ["read", "write"]

[[scope]]
name = "public"
levels = ["read", "write"]

[[scope]]
name = "orders"

[[scope]]
name = "read_orders"
"#;

fn policy(routes: &str) -> Policy {
    policy_with(SCOPES, routes)
}

fn policy_with(scopes: &str, routes: &str) -> Policy {
    Policy::compile("p.toml", &format!("{scopes}\n{routes}")).unwrap_or_else(|e| panic!("{e}"))
}

fn route(m: &str, key: &str, list: &str) -> String {
    format!("[[route]]\nmatch = \"{m}\"\n{key} = {list}\n")
}

fn one(old: &Policy, new: &Policy) -> Finding {
    let f = diff(old, new);
    assert_eq!(f.len(), 1, "{f:#?}");
    f[0].clone()
}

#[test]
fn reordering_rewording_and_renaming_a_parameter_change_nothing() {
    let old = policy(&format!(
        "{}description = \"one\"\n{}",
        route("GET /a/{id}", "any_of", "[\"account:read\"]"),
        route("PUT /b", "all_of", "[\"account:write\", \"public:read\"]")
    ));
    let new = policy(&format!(
        "{}{}description = \"another\"\n",
        route("PUT /b", "all_of", "[\"public:read\", \"account:write\"]"),
        route("GET /a/{account_id}", "any_of", "[\"account:read\"]")
    ));
    assert_eq!(diff(&old, &new), []);
}

#[test]
fn an_any_of_gaining_a_scope_widens_and_names_who() {
    let old = policy(&route("GET /a", "any_of", "[\"account:read\"]"));
    let new = policy(&route("GET /a", "any_of", "[\"account:read\", \"public:read\"]"));
    let f = one(&old, &new);
    assert!(f.widens && !f.narrows, "{f:?}");
    assert!(f.why.contains("public:read"), "{f:?}");
    let back = one(&new, &old);
    assert!(back.narrows && !back.widens, "{back:?}");
}

#[test]
fn an_all_of_losing_a_scope_widens() {
    let old = policy(&route("PUT /b", "all_of", "[\"account:write\", \"public:read\"]"));
    let new = policy(&route("PUT /b", "all_of", "[\"account:write\"]"));
    assert!(one(&old, &new).widens);
}

#[test]
fn all_of_becoming_any_of_widens() {
    let old = policy(&route("PUT /b", "all_of", "[\"account:write\", \"public:write\"]"));
    let new = policy(&route("PUT /b", "any_of", "[\"account:write\", \"public:write\"]"));
    let f = one(&old, &new);
    assert!(f.widens, "{f:?}");
}

#[test]
fn implication_counts_a_write_level_already_admitted_is_no_widening() {
    // account:write implies account:read: adding it to an any_of with
    // account:read lets in no one new.
    let old = policy(&route("GET /a", "any_of", "[\"account:read\"]"));
    let new = policy(&route("GET /a", "any_of", "[\"account:read\", \"account:write\"]"));
    assert_eq!(diff(&old, &new), []);
}

#[test]
fn a_route_becoming_public_or_merely_authenticated_widens() {
    let old = policy(&route("GET /a", "any_of", "[\"account:read\"]"));
    let public = policy("[[route]]\nmatch = \"GET /a\"\nrequire = \"none\"\n");
    let f = one(&old, &public);
    assert!(f.widens && f.why.contains("no credentials"), "{f:?}");
    let client = policy("[[route]]\nmatch = \"GET /a\"\nrequire = \"client\"\n");
    let f = one(&old, &client);
    assert!(f.widens && f.why.contains("no scope"), "{f:?}");
}

#[test]
fn a_new_route_is_compared_with_the_route_that_used_to_match() {
    let old = policy(&route("GET /a/*", "any_of", "[\"account:read\"]"));
    let same = policy(&format!(
        "{}{}",
        route("GET /a/*", "any_of", "[\"account:read\"]"),
        route("GET /a/me", "any_of", "[\"account:read\"]")
    ));
    let f = one(&old, &same);
    assert!(!f.widens && !f.narrows, "{f:?}");
    let open = policy(&format!(
        "{}[[route]]\nmatch = \"GET /a/me\"\nrequire = \"none\"\n",
        route("GET /a/*", "any_of", "[\"account:read\"]")
    ));
    assert!(one(&old, &open).widens);
    let fresh = policy(&format!(
        "{}{}",
        route("GET /a/*", "any_of", "[\"account:read\"]"),
        route("GET /b", "any_of", "[\"account:read\"]")
    ));
    let f = one(&old, &fresh);
    assert!(
        f.widens && f.before.contains("404"),
        "a request that found no route now finds one: {f:?}"
    );
}

#[test]
fn a_scope_implying_more_widens_and_a_removed_scope_narrows() {
    let routes = route("GET /orders", "any_of", "[\"read_orders\"]");
    let old = policy(&routes);
    let implying = SCOPES.replace(
        "name = \"orders\"\n",
        "name = \"orders\"\nimplies = [\"read_orders\"]\n",
    );
    let new = policy_with(&implying, &routes);
    let found = diff(&old, &new);
    assert!(
        found
            .iter()
            .any(|f| f.kind == "route" && f.widens && f.why.contains("orders")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.kind == "scope" && f.subject == "orders" && f.widens),
        "{found:#?}"
    );
    let removed = policy_with(
        &SCOPES.replace("[[scope]]\nname = \"orders\"\n", ""),
        &route("GET /x", "any_of", "[\"public:read\"]"),
    );
    let old = policy(&route("GET /x", "any_of", "[\"public:read\"]"));
    let found = diff(&old, &removed);
    assert!(
        found
            .iter()
            .any(|f| f.kind == "scope" && f.subject == "orders" && f.narrows && !f.widens),
        "{found:#?}"
    );
}

mod against_brute_force {
    use proptest::prelude::*;
    use scopegate_core::{Caller, Policy};

    const NAMES: [&str; 6] = [
        "account:read",
        "account:write",
        "public:read",
        "public:write",
        "orders",
        "read_orders",
    ];

    fn requirement() -> impl Strategy<Value = String> {
        let set = proptest::sample::subsequence(NAMES.to_vec(), 1..=3).prop_map(|s| {
            format!(
                "[{}]",
                s.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
            )
        });
        prop_oneof![
            Just("require = \"none\"".to_owned()),
            Just("require = \"client\"".to_owned()),
            set.clone().prop_map(|s| format!("any_of = {s}")),
            set.prop_map(|s| format!("all_of = {s}")),
        ]
    }

    fn compile(requirement: &str, orders_implies: bool) -> Policy {
        let implies = if orders_implies {
            "implies = [\"read_orders\"]\n"
        } else {
            ""
        };
        Policy::compile(
            "p.toml",
            &format!(
                "[[scope]]\nname = \"account\"\nlevels = [\"read\", \"write\"]\n[[scope]]\nname = \"public\"\nlevels = [\"read\", \"write\"]\n\
                 [[scope]]\nname = \"orders\"\n{implies}[[scope]]\nname = \"read_orders\"\n[[route]]\nmatch = \"GET /a\"\n{requirement}\n"
            ),
        )
        .unwrap()
    }

    /// Whether `p` lets in the caller granted `mask` (`None`: anonymous).
    fn admits(p: &Policy, mask: Option<u32>) -> bool {
        match mask {
            None => p.decide("GET", "/a", Caller::Anonymous).is_allow(),
            Some(mask) => {
                let names: Vec<&str> = (0..6).filter(|i| mask & (1 << i) != 0).map(|i| NAMES[i]).collect();
                let granted = p.catalog.parse_list(&names.join(" ")).unwrap();
                p.decide("GET", "/a", Caller::Client(&p.catalog.close(&granted)))
                    .is_allow()
            }
        }
    }

    proptest! {
        /// diff says "widened" exactly when some caller (anonymous, or a
        /// client with any of the 64 grant sets) gets in after and not before,
        /// and "narrowed" exactly for the converse.
        #[test]
        fn widened_and_narrowed_agree_with_every_grant_set(
            before in requirement(), after in requirement(), old_implies: bool, new_implies: bool,
        ) {
            let (old, new) = (compile(&before, old_implies), compile(&after, new_implies));
            let callers = std::iter::once(None).chain((0..64).map(Some));
            let widened = callers.clone().any(|c| admits(&new, c) && !admits(&old, c));
            let narrowed = callers.clone().any(|c| admits(&old, c) && !admits(&new, c));
            let found = scopegate_core::diff::diff(&old, &new);
            let route = found.iter().find(|f| f.kind == "route");
            prop_assert_eq!(route.is_some_and(|f| f.widens), widened, "{:?}", found);
            prop_assert_eq!(route.is_some_and(|f| f.narrows), narrowed, "{:?}", found);
        }
    }
}
