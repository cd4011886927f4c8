//! The minimal scope cover (`scopes-for`): minimal, correct, honours grants and
//! environments, and names what cannot be satisfied.

use proptest::prelude::*;
use scopegate_core::{Caller, CoverError, CoverFor, GrantKind, Policy, ScopeSet};

use crate::example;

fn cover(p: &Policy, endpoints: &[&str], under: CoverFor<'_>) -> String {
    let c = p.scopes_for(endpoints, under).unwrap_or_else(|e| panic!("{e}"));
    p.catalog.display(&c.scopes)
}

#[test]
fn cover_prefers_the_least_privileged_level() {
    let p = example("app-analytics");
    assert_eq!(cover(&p, &["GET /account/x"], CoverFor::default()), "account:read");
    assert_eq!(
        cover(&p, &["GET /account/x", "POST /events/1"], CoverFor::default()),
        "account:write"
    );
}

#[test]
fn cover_is_one_scope_per_area_for_the_seed_example() {
    // products:write, private:read and account:read (the seed's X-OAuth-Scope example).
    let p = example("app-analytics");
    let got = cover(
        &p,
        &[
            "PUT /products/1",
            "GET /reports/sales",
            "GET /account/x",
            "GET /products/mine",
        ],
        CoverFor::default(),
    );
    assert_eq!(got, "account:read private:read products:write");
}

#[test]
fn cover_of_open_routes_is_empty() {
    let p = example("app-analytics");
    assert_eq!(cover(&p, &["GET /", "GET /data/a"], CoverFor::default()), "");
}

#[test]
fn cover_honours_the_grant() {
    let p = example("marketplace");
    let cc = CoverFor {
        grant: Some(GrantKind::ClientCredentials),
        environment: None,
    };
    let err = p.scopes_for(&["GET /sell/inventory/v1/offer"], cc).unwrap_err();
    assert!(matches!(err, CoverError::Unsatisfiable { .. }));
    assert!(err.to_string().contains("app tokens (client_credentials)"), "{err}");
    let ac = CoverFor {
        grant: Some(GrantKind::AuthorizationCode),
        environment: None,
    };
    assert_eq!(
        cover(&p, &["GET /sell/inventory/v1/offer"], ac),
        "https://api.example.com/oauth/api_scope/sell.inventory.readonly"
    );
}

#[test]
fn cover_honours_the_environment() {
    let p = example("marketplace");
    let sandbox = CoverFor {
        grant: None,
        environment: Some("sandbox"),
    };
    let err = p
        .scopes_for(&["GET /buy/browse/v1/x", "GET /buy/feed/v1/x"], sandbox)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"GET /buy/feed/v1/x\"") && err.contains("in sandbox"),
        "{err}"
    );
    let prod = CoverFor {
        grant: None,
        environment: Some("production"),
    };
    assert!(p.scopes_for(&["GET /buy/feed/v1/x"], prod).is_ok());
}

#[test]
fn cover_names_an_endpoint_without_a_route() {
    let p = example("app-analytics");
    let err = p
        .scopes_for(&["GET /account/x", "DELETE /nowhere"], CoverFor::default())
        .unwrap_err();
    assert_eq!(
        err,
        CoverError::NoRoute {
            endpoint: "DELETE /nowhere".into()
        }
    );
    assert!(matches!(
        p.scopes_for(&["GET"], CoverFor::default()),
        Err(CoverError::BadEndpoint { .. })
    ));
    assert!(matches!(
        p.scopes_for(&["GET /a/%2F"], CoverFor::default()),
        Err(CoverError::BadPath { .. })
    ));
}

#[test]
fn cover_satisfies_all_of_and_uses_implication() {
    let p = example("storefront");
    let got = cover(
        &p,
        &[
            "GET /api/v1/orders",
            "PUT /api/v1/orders/1",
            "GET /api/v1/order_payments/1/decrypted",
        ],
        CoverFor::default(),
    );
    assert_eq!(got, "orders decrypt");
}

/// A random policy: scopes with implications, grants, and routes needing any or all of them.
fn small_policy() -> impl Strategy<Value = (String, usize)> {
    let n_scopes = 2usize..8;
    n_scopes.prop_flat_map(|n| {
        let implies = proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n);
        let user_only = proptest::collection::vec(proptest::bool::weighted(0.2), n);
        let routes = proptest::collection::vec((any::<bool>(), proptest::collection::btree_set(0..n, 1..4)), 1..7);
        (Just(n), implies, user_only, routes).prop_map(|(n, implies, user_only, routes)| {
            let mut src = String::new();
            for i in 0..n {
                let imp: Vec<String> = (i + 1..n)
                    .filter(|&j| implies[i][j])
                    .map(|j| format!("\"s{j}\""))
                    .collect();
                let grants = if user_only[i] {
                    "grants = [\"authorization_code\"]\n"
                } else {
                    ""
                };
                src += &format!("[[scope]]\nname = \"s{i}\"\nimplies = [{}]\n{grants}\n", imp.join(", "));
            }
            for (k, (any, scopes)) in routes.iter().enumerate() {
                let list: Vec<String> = scopes.iter().map(|j| format!("\"s{j}\"")).collect();
                let key = if *any { "any_of" } else { "all_of" };
                src += &format!("[[route]]\nmatch = \"GET /r{k}\"\n{key} = [{}]\n\n", list.join(", "));
            }
            (src, routes.len())
        })
    })
}

proptest! {
    /// The cover lets every endpoint through and no smaller set does.
    #[test]
    fn cover_is_minimal_and_sufficient((src, n_routes) in small_policy(), pick in proptest::collection::vec(any::<bool>(), 7), app_tokens in any::<bool>()) {
        let p = Policy::compile("t.toml", &src).unwrap();
        let endpoints: Vec<String> = (0..n_routes).filter(|&k| pick[k]).map(|k| format!("GET /r{k}")).collect();
        let grant = app_tokens.then_some(GrantKind::ClientCredentials);
        let under = CoverFor { grant, environment: None };
        let allowed = |set: &ScopeSet| {
            let held = p.catalog.close(set);
            endpoints.iter().all(|e| p.decide("GET", &e[4..], Caller::Client(&held)).is_allow())
        };
        let candidates: Vec<_> = p.catalog.iter().filter(|(_, s)| grant.is_none_or(|g| s.allows_grant(g))).map(|(id, _)| id).collect();
        // Brute force: the smallest subset of candidates that allows everything.
        let best = (0u32..(1 << candidates.len()))
            .filter(|mask| allowed(&candidates.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &id)| id).collect()))
            .map(|mask| mask.count_ones())
            .min();
        match (p.scopes_for(&endpoints, under), best) {
            (Ok(c), Some(size)) => {
                prop_assert!(allowed(&c.scopes), "cover {} does not allow every endpoint", p.catalog.display(&c.scopes));
                prop_assert_eq!(c.scopes.len() as u32, size);
            }
            (Err(CoverError::Unsatisfiable { .. }), None) => {}
            (got, want) => prop_assert!(false, "scopes_for = {:?}, brute force = {:?}", got, want),
        }
    }
}

#[test]
fn a_scope_implying_an_approval_gated_scope_is_itself_gated() {
    let p = Policy::compile(
        "gated.toml",
        r#"
[[scope]]
name = "reports"
requires_approval = true

[[scope]]
name    = "reports_admin"
implies = ["reports"]

[[scope]]
name    = "everything"
implies = ["reports_admin"]

[[scope]]
name = "plain"
"#,
    )
    .unwrap();
    let info = |n: &str| p.catalog.info(p.catalog.lookup(n).unwrap());
    let reports = p.catalog.lookup("reports");
    assert!(info("reports").requires_approval && info("reports").approval_through.is_none());
    for through in ["reports_admin", "everything"] {
        assert!(info(through).requires_approval, "{through}");
        assert_eq!(info(through).approval_through, reports, "{through}");
    }
    assert!(!info("plain").requires_approval);
}
