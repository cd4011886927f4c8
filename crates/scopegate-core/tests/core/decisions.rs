//! Decisions (docs/policy.md and docs/gateway.md) on the shipped examples and small policies.

use scopegate_core::{Allowance, Caller, Decision, Requirement};

use crate::{example, held, policy};

#[test]
fn unmatched_request_is_denied_whatever_the_credentials() {
    let p = example("app-analytics");
    let all = held(&p, "account:write public:write private:write products:write");
    assert_eq!(
        p.decide("GET", "/nowhere", Caller::Client(&all)),
        Decision::RouteNotFound
    );
    // GET /account/* exists, but no route is for DELETE on it.
    assert_eq!(
        p.decide("DELETE", "/account/x", Caller::Client(&all)),
        Decision::RouteNotFound
    );
}

#[test]
fn write_implies_read() {
    let p = example("app-analytics");
    let h = held(&p, "account:write");
    assert!(p.decide("GET", "/account/settings", Caller::Client(&h)).is_allow());
    assert!(p.decide("POST", "/events/1", Caller::Client(&h)).is_allow());
}

#[test]
fn read_does_not_imply_write() {
    let p = example("app-analytics");
    let h = held(&p, "account:read");
    let d = p.decide("POST", "/events/1", Caller::Client(&h));
    let Decision::InsufficientScope { route } = d else {
        panic!("expected 403, got {d:?}")
    };
    assert_eq!(p.catalog.display(&p.missing(route, &h)), "account:write");
}

#[test]
fn every_client_may_read_landing_help_and_data() {
    let p = example("app-analytics");
    let none = held(&p, "");
    for path in ["/", "/help", "/data/x/y"] {
        let d = p.decide("GET", path, Caller::Client(&none));
        assert_eq!(d.outcome(), "allow", "{path}");
        assert!(matches!(
            d,
            Decision::Allow {
                because: Allowance::AnyClient,
                ..
            }
        ));
        assert_eq!(
            p.decide("GET", path, Caller::Anonymous).outcome(),
            "unauthenticated",
            "{path}"
        );
    }
}

#[test]
fn require_none_allows_without_credentials() {
    let p = policy("[[route]]\nmatch = \"GET /healthz-upstream\"\nrequire = \"none\"\n");
    assert!(matches!(
        p.decide("GET", "/healthz-upstream", Caller::Anonymous),
        Decision::Allow {
            because: Allowance::Open,
            ..
        }
    ));
}

#[test]
fn orders_supersedes_read_orders() {
    let p = example("storefront");
    let h = held(&p, "orders");
    assert!(p.decide("GET", "/api/v1/orders/1", Caller::Client(&h)).is_allow());
    assert!(p.decide("PUT", "/api/v1/orders/1", Caller::Client(&h)).is_allow());
    let r = held(&p, "read_orders");
    assert!(p.decide("GET", "/api/v1/orders", Caller::Client(&r)).is_allow());
    assert!(!p.decide("PUT", "/api/v1/orders/1", Caller::Client(&r)).is_allow());
}

#[test]
fn any_of_url_scopes_one_suffices() {
    let p = example("marketplace");
    let h = held(&p, "https://api.example.com/oauth/api_scope/sell.inventory.readonly");
    assert!(
        p.decide("GET", "/sell/inventory/v1/offer/1", Caller::Client(&h))
            .is_allow()
    );
    assert!(
        !p.decide("POST", "/sell/inventory/v1/offer", Caller::Client(&h))
            .is_allow()
    );
}

#[test]
fn all_of_needs_every_scope_and_reports_the_missing_ones() {
    let p = policy(
        r#"
        [[scope]]
        name = "a"
        [[scope]]
        name = "b"
        [[scope]]
        name = "c"
        [[route]]
        match = "GET /x"
        all_of = ["a", "b", "c"]
        "#,
    );
    let h = held(&p, "a");
    let Decision::InsufficientScope { route } = p.decide("GET", "/x", Caller::Client(&h)) else {
        panic!()
    };
    assert_eq!(p.catalog.display(&p.missing(route, &h)), "b c");
    assert!(p.decide("GET", "/x", Caller::Client(&held(&p, "a b c"))).is_allow());
}

#[test]
fn ambiguous_path_is_refused_before_matching() {
    let p = example("app-analytics");
    let h = held(&p, "account:write");
    assert_eq!(
        p.decide("GET", "/data/..%2f/account", Caller::Client(&h)).outcome(),
        "bad_path"
    );
    assert_eq!(
        p.decide("GET", "/nowhere/%2e%2e", Caller::Anonymous).outcome(),
        "bad_path"
    );
}

#[test]
fn encoded_unreserved_characters_match_their_decoded_route() {
    // /%70roducts/mine is /products/mine to the upstream: it must need products:read.
    let p = example("app-analytics");
    let h = held(&p, "public:read");
    assert_eq!(
        p.decide("GET", "/%70roducts/mine", Caller::Client(&h)).outcome(),
        "insufficient_scope"
    );
}

#[test]
fn narrowing_restricts_a_request_to_the_named_scopes() {
    // X-OAuth-Scope: products:write, private:read, account:read
    let p = example("app-analytics");
    let granted = held(&p, "account:write products:write private:read public:read");
    let narrowed = p
        .catalog
        .parse_list("products:write, private:read, account:read")
        .unwrap_or_else(|e| panic!("{e}"));
    let h = p
        .catalog
        .narrow(&granted, &narrowed)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(p.decide("PUT", "/products/1", Caller::Client(&h)).is_allow());
    assert!(!p.decide("POST", "/events/1", Caller::Client(&h)).is_allow());
    assert!(!p.decide("GET", "/ranks", Caller::Client(&h)).is_allow());
}

#[test]
fn narrowing_to_an_unheld_scope_is_refused() {
    let p = example("app-analytics");
    let granted = held(&p, "account:read");
    let wider = p.catalog.parse_list("account:write").unwrap_or_else(|e| panic!("{e}"));
    let err = p
        .catalog
        .narrow(&granted, &wider)
        .err()
        .map(|e| p.catalog.display(&e.0));
    assert_eq!(err.as_deref(), Some("account:write"));
}

#[test]
fn shown_scope_is_normalized() {
    let p = example("storefront");
    let set = p
        .catalog
        .parse_list("orders read_orders")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.catalog.display(&p.catalog.normalize(&set)), "orders");
    let a = example("app-analytics");
    let set = a
        .catalog
        .parse_list("account:write account:read")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.catalog.display(&a.catalog.normalize(&set)), "account:write");
}

#[test]
fn scope_attributes_are_exposed_for_the_token_server() {
    let p = example("storefront");
    let info = |n: &str| p.catalog.info(p.catalog.lookup(n).unwrap_or_else(|| panic!("{n}")));
    assert_eq!(
        info("decrypt").max_lifetime,
        Some(std::time::Duration::from_secs(90 * 86_400))
    );
    assert!(info("no_expiry").no_expiry);
    assert_eq!(info("orders").requires_permissions, ["Orders", "OrderStatuses"]);
    assert!(!info("decrypt").allows_grant(scopegate_core::GrantKind::ClientCredentials));
    let m = example("marketplace");
    let feed = m.catalog.info(
        m.catalog
            .lookup("https://api.example.com/oauth/api_scope/buy.item.feed")
            .unwrap_or_else(|| panic!()),
    );
    assert!(feed.available_in("production") && !feed.available_in("sandbox"));
}

#[test]
fn decision_names_the_route_and_requirement() {
    let p = example("app-analytics");
    let d = p.decide("PUT", "/products/42", Caller::Client(&held(&p, "")));
    let route = p.route(d.route().unwrap_or_else(|| panic!("route")));
    assert_eq!(route.pattern.to_string(), "PUT /products/{product_id}");
    assert!(matches!(&route.requirement, Requirement::AnyOf(s) if p.catalog.display(s) == "products:write"));
}
