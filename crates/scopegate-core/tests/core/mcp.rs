//! The MCP rules of docs/mcp.md that need no server: `[mcp]` and
//! `[[mcp_route]]` in the policy, reading an operation from headers and body,
//! the decision and the minimal challenge.

use proptest::prelude::*;
use scopegate_core::admission::{Admission, Denial, admit};
use scopegate_core::enforce::Refusal;
use scopegate_core::mcp_call::McpCall;
use scopegate_core::{Caller, Policy};

use crate::{held, policy};

const POLICY: &str = r#"
issuer = "https://api.example.com"

[[scope]]
name = "read_orders"

[[scope]]
name    = "orders"
implies = ["read_orders"]

[[scope]]
name = "refunds"

[[scope]]
name = "catalog"

[[route]]
match  = "GET /orders"
any_of = ["read_orders"]

[mcp]
path = "/mcp"

[[mcp_route]]
match   = "tools/list"
require = "client"

[[mcp_route]]
match  = "tools/call list_orders"
any_of = ["read_orders"]

[[mcp_route]]
match  = "tools/call create_*"
any_of = ["orders"]

[[mcp_route]]
match  = "tools/call refund_order"
all_of = ["orders", "refunds"]

[[mcp_route]]
match  = "tools/call pick"
any_of = ["catalog", "orders"]

[[mcp_route]]
match   = "ping"
require = "none"
"#;

fn errors(source: &str) -> String {
    match Policy::compile("p.toml", source) {
        Ok(_) => panic!("should not compile"),
        Err(e) => e.to_string(),
    }
}

fn decide(p: &Policy, op: &str, scopes: Option<&str>) -> &'static str {
    let call = McpCall::parse(op).unwrap();
    let route = p.match_mcp(&call.method, call.name.as_deref());
    let h = scopes.map(|s| held(p, s));
    let caller = h.as_ref().map_or(Caller::Anonymous, Caller::Client);
    p.decide_route(route, caller).outcome().as_str()
}

#[test]
fn mcp_resource_defaults_to_the_issuer_and_path() {
    let p = policy(POLICY);
    let mcp = p.settings.mcp.as_ref().unwrap();
    assert_eq!(mcp.resource, "https://api.example.com/mcp");
    assert_eq!(mcp.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
}

#[test]
fn mcp_scopes_supported_default_to_the_smallest_set_for_every_list_method() {
    let p = policy(&POLICY.replace(
        "match   = \"tools/list\"\nrequire = \"client\"",
        "match   = \"tools/list\"\nany_of = [\"read_orders\", \"orders\"]",
    ));
    let supported = &p.settings.mcp.as_ref().unwrap().scopes_supported;
    assert_eq!(p.catalog.display(supported), "read_orders");
    let listed = policy(&POLICY.replace("path = \"/mcp\"", "path = \"/mcp\"\nscopes_supported = [\"orders\"]"));
    assert_eq!(
        listed.catalog.display(&listed.settings.mcp.unwrap().scopes_supported),
        "orders"
    );
}

#[test]
fn mcp_route_decisions_honour_implication() {
    let p = policy(POLICY);
    assert_eq!(decide(&p, "tools/call list_orders", Some("orders")), "allow");
    assert_eq!(
        decide(&p, "tools/call list_orders", Some("catalog")),
        "insufficient_scope"
    );
    assert_eq!(decide(&p, "tools/call create_order", Some("orders")), "allow");
    assert_eq!(decide(&p, "tools/call create_order", None), "unauthenticated");
    assert_eq!(decide(&p, "tools/list", Some("")), "allow");
    assert_eq!(decide(&p, "ping", None), "allow");
}

#[test]
fn an_mcp_operation_no_mcp_route_matches_is_route_not_found() {
    let p = policy(POLICY);
    assert_eq!(
        decide(&p, "tools/call delete_everything", Some("orders refunds catalog")),
        "route_not_found"
    );
    assert_eq!(decide(&p, "prompts/list", Some("orders")), "route_not_found");
}

#[test]
fn the_mcp_challenge_is_the_smallest_additional_set() {
    let p = policy(POLICY);
    let challenge = |op: &str, scopes: &str| {
        let call = McpCall::parse(op).unwrap();
        let route = p.match_mcp(&call.method, call.name.as_deref()).unwrap();
        p.catalog.display(&p.mcp_challenge(route, &held(&p, scopes)))
    };
    // all_of: only what is not held.
    assert_eq!(challenge("tools/call refund_order", "orders"), "refunds");
    assert_eq!(challenge("tools/call refund_order", ""), "orders refunds");
    // implication: orders is what allows create, whatever read_orders is held.
    assert_eq!(challenge("tools/call create_order", "read_orders"), "orders");
    // any_of: one scope, the least privileged.
    assert_eq!(challenge("tools/call pick", ""), "catalog");
    // any_of with implication: read_orders is the smallest grant that opens list_orders.
    assert_eq!(challenge("tools/call list_orders", "catalog"), "read_orders");
}

#[test]
fn a_403_on_an_mcp_route_names_the_minimal_scope_and_the_resource_metadata() {
    let p = policy(POLICY);
    let route = p.match_mcp("tools/call", Some("refund_order")).unwrap();
    let denial = Denial {
        route: Some(route),
        refusal: Refusal::InsufficientScope {
            route,
            held: held(&p, "orders"),
        },
    };
    let answer = denial.answer(&p);
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(
            "Bearer resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\", error=\"insufficient_scope\", scope=\"refunds\""
        )
    );
    let unauthenticated = Denial {
        route: Some(route),
        refusal: Refusal::Unauthenticated,
    }
    .answer(&p);
    let challenge = unauthenticated.www_authenticate.unwrap();
    assert!(
        challenge.contains("resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""),
        "{challenge}"
    );
    assert!(
        !challenge.contains("scope="),
        "a 401 never sends an empty scope: {challenge}"
    );
}

#[test]
fn a_refusal_on_an_http_route_names_no_resource_metadata() {
    let p = policy(POLICY);
    let route = p.match_route("GET", "/orders").unwrap();
    let answer = Denial {
        route: Some(route),
        refusal: Refusal::Unauthenticated,
    }
    .answer(&p);
    assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer realm=\"scopegate\""));
}

fn refusal_of(r: Result<McpCall<'_>, Refusal>) -> String {
    match r {
        Err(Refusal::InvalidRequest(why)) => why,
        other => panic!("expected invalid_request, got {other:?}"),
    }
}

fn from_body<'b>(body: &'b str, method: &[&'b str], name: &[&'b str]) -> Result<McpCall<'b>, Refusal> {
    McpCall::from_body(
        body.as_bytes(),
        method.iter().map(|m| m.as_bytes()),
        name.iter().map(|n| n.as_bytes()),
    )
}

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_order","arguments":{"sku":"a"}}}"#;

#[test]
fn an_mcp_body_must_agree_with_its_headers() {
    let call = from_body(CALL, &["tools/call"], &["create_order"]).unwrap();
    assert_eq!(call.to_string(), "tools/call create_order");
    let encoded = from_body(CALL, &["tools/call"], &["=?base64?Y3JlYXRlX29yZGVy?="]).unwrap();
    assert_eq!(encoded.name.as_deref(), Some("create_order"));
    assert!(refusal_of(from_body(CALL, &["tools/call"], &["refund_order"])).contains("Mcp-Name does not match"));
    assert!(refusal_of(from_body(CALL, &["tools/list"], &[])).contains("does not match the body's method"));
    assert!(refusal_of(from_body(CALL, &[], &["create_order"])).contains("Mcp-Method"));
    assert!(refusal_of(from_body(CALL, &["tools/call"], &[])).contains("Mcp-Name"));
    assert!(refusal_of(from_body(CALL, &["tools/call", "tools/call"], &["create_order"])).contains("repeated"));
}

#[test]
fn batches_responses_and_non_json_rpc_bodies_are_refused() {
    let batch = format!("[{CALL}]");
    assert!(refusal_of(from_body(&batch, &["tools/call"], &["create_order"])).contains("batches"));
    let response = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
    assert!(refusal_of(from_body(response, &["tools/call"], &["create_order"])).contains("response"));
    for body in [
        "",
        "not json",
        "{}",
        r#"{"jsonrpc":"1.0","method":"tools/call"}"#,
        "null",
        "42",
    ] {
        refusal_of(from_body(body, &["tools/call"], &["create_order"]));
    }
    let nameless = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#;
    assert!(refusal_of(from_body(nameless, &["tools/call"], &["7"])).contains("params.name"));
}

#[test]
fn a_post_to_the_mcp_path_without_an_operation_is_refused() {
    let p = policy(POLICY);
    let denial = admit(&p, "POST", "/mcp", None, std::iter::empty()).unwrap_err();
    assert_eq!(denial.refusal.outcome(), "invalid_request");
    // Other methods on the path are ordinary routes (none here).
    let get = admit(&p, "GET", "/mcp", None, std::iter::empty()).unwrap_err();
    assert_eq!(get.refusal.outcome(), "route_not_found");
    let call = McpCall::parse("ping").unwrap();
    assert!(matches!(
        admit(&p, "POST", "/mcp", Some(&call), std::iter::empty()).unwrap(),
        Admission::Open(_)
    ));
}

#[test]
fn mcp_policy_errors_name_their_line() {
    let bad_match = format!("{POLICY}\n[[mcp_route]]\nmatch = \"tools/*/x\"\nrequire = \"client\"\n");
    assert!(
        errors(&bad_match).contains("a `*` may only end it"),
        "{}",
        errors(&bad_match)
    );
    let twice = format!("{POLICY}\n[[mcp_route]]\nmatch = \"tools/call create_*\"\nrequire = \"client\"\n");
    let e = errors(&twice);
    assert!(
        e.contains("can match the same operations as mcp_route \"tools/call create_*\" (line 33)"),
        "{e}"
    );
    let star = format!("{POLICY}\n[[mcp_route]]\nmatch = \"tools/list *\"\nrequire = \"client\"\n");
    assert!(errors(&star).contains("same operations"), "{}", errors(&star));
    let undeclared = format!("{POLICY}\n[[mcp_route]]\nmatch = \"prompts/get x\"\nany_of = [\"nope\"]\n");
    assert!(errors(&undeclared).contains("undeclared scope \"nope\""));
    let orphan = "[[scope]]\nname = \"a\"\n\n[[mcp_route]]\nmatch = \"ping\"\nrequire = \"none\"\n";
    assert!(
        errors(orphan).starts_with("p.toml:5: [[mcp_route]] needs an [mcp] table"),
        "{}",
        errors(orphan)
    );
    let empty = "[mcp]\npath = \"/mcp\"\n";
    assert!(
        errors(empty).contains("p.toml:2: [mcp] has no [[mcp_route]]"),
        "{}",
        errors(empty)
    );
    for path in ["mcp", "/mcp/", "/a/../mcp", "/mcp?x=1", "/"] {
        let e = errors(&POLICY.replace("path = \"/mcp\"", &format!("path = {path:?}")));
        assert!(e.contains("`mcp.path`"), "{path}: {e}");
    }
    let e = errors(&POLICY.replace("path = \"/mcp\"", "path = \"/mcp\"\nresource = \"urn:x#frag\""));
    assert!(e.contains("`mcp.resource`"), "{e}");
    let e = errors(&POLICY.replace("path = \"/mcp\"", "path = \"/mcp\"\nsurprise = 1"));
    assert!(e.contains("unknown field `surprise`"), "{e}");
}

proptest! {
    /// The table agrees with a scan of every pattern for the most specific match.
    #[test]
    fn the_mcp_table_agrees_with_an_exhaustive_specificity_scan(
        patterns in proptest::collection::vec(("(tools/call|tools/\\*|tools/list|\\*|prompts/get)", proptest::option::of("(a|ab|abc|a\\*|ab\\*|\\*)")), 1..8),
        method in "(tools/call|tools/list|prompts/get|ping)",
        name in proptest::option::of("(a|ab|abc|abd|b)"),
    ) {
        let mut source = String::from("[mcp]\npath = \"/mcp\"\n");
        let mut seen = std::collections::HashSet::new();
        for (m, n) in &patterns {
            let named = matches!(m.as_str(), "tools/call" | "prompts/get" | "tools/*" | "*");
            let text = match n { Some(n) if named => format!("{m} {n}"), _ => m.clone() };
            let parsed = scopegate_core::mcp::McpPattern::parse(&text).unwrap();
            if seen.insert(parsed.to_string()) {
                source.push_str(&format!("\n[[mcp_route]]\nmatch = {text:?}\nrequire = \"client\"\n"));
            }
        }
        let p = policy(&source);
        let name = if scopegate_core::mcp::name_key(&method).is_some() { name } else { None };
        let found = p.match_mcp(&method, name.as_deref()).map(|r| p.route(r).pattern.to_string());
        // Specificity from the left: exact method, longer method prefix; exact name, longer name prefix, none.
        let rank = |t: &scopegate_core::mcp::Text| match t {
            scopegate_core::mcp::Text::Exact(e) => (1, e.len()),
            scopegate_core::mcp::Text::Prefix(q) => (0, q.len()),
        };
        let best = p.routes().iter().filter_map(|r| match &r.pattern {
            scopegate_core::RoutePattern::Mcp(m) if m.matches(&method, name.as_deref()) => Some((r, m)),
            _ => None,
        }).max_by_key(|(_, m)| (rank(&m.method), m.name.as_ref().map_or((0, 0), |n| { let (k, l) = rank(n); (k + 1, l) })))
          .map(|(r, _)| r.pattern.to_string());
        prop_assert_eq!(found, best);
    }
}

const TOOLS: &str = r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"list_orders"},{"name":"create_order"},{"name":"refund_order"},{"name":"unrouted"},{"title":"no name"}],"nextCursor":"page-2","cacheScope":"public","ttlMs":60000}}"#;

fn filtered(p: &Policy, scopes: &str, body: &str, event_stream: bool) -> String {
    let h = held(p, scopes);
    String::from_utf8(
        p.filter_list_answer("tools/list", body.as_bytes(), event_stream, Caller::Client(&h))
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn list_answers_keep_only_what_the_caller_may_call_and_become_private() {
    let p = policy(POLICY);
    let out: serde_json::Value = serde_json::from_str(&filtered(&p, "read_orders", TOOLS, false)).unwrap();
    let names: Vec<&str> = out["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["list_orders"]);
    assert_eq!(out["result"]["cacheScope"], "private");
    assert_eq!(out["result"]["nextCursor"], "page-2", "cursors pass untouched");
    assert_eq!(out["result"]["ttlMs"], 60000);
    let out: serde_json::Value = serde_json::from_str(&filtered(&p, "orders refunds", TOOLS, false)).unwrap();
    assert_eq!(
        out["result"]["tools"].as_array().unwrap().len(),
        3,
        "orders implies read_orders"
    );
}

#[test]
fn list_answers_in_an_event_stream_are_filtered_event_by_event() {
    let p = policy(POLICY);
    let stream = format!(
        "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{}}}}\n\nid: 7\nevent: message\ndata: {TOOLS}\n\n"
    );
    let out = filtered(&p, "read_orders", &stream, true);
    let events: Vec<&str> = out.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 2, "{out}");
    assert!(events[0].contains("notifications/progress"));
    assert!(events[1].starts_with("id: 7\nevent: message\ndata: "), "{out}");
    let data: serde_json::Value = serde_json::from_str(events[1].rsplit("data: ").next().unwrap()).unwrap();
    assert_eq!(data["result"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(data["result"]["cacheScope"], "private");
    // Data that is not JSON could carry a list past the filter: refused.
    let h = held(&p, "read_orders");
    assert!(
        p.filter_list_answer("tools/list", b"data: {\"jsonrpc\n\n", true, Caller::Client(&h))
            .is_err()
    );
    assert!(
        p.filter_list_answer("tools/list", b"not json", false, Caller::Client(&h))
            .is_err()
    );
}

#[test]
fn a_resource_must_be_one_the_policy_knows() {
    use scopegate_core::oauth::{requested_resource, resource_from_grant};
    let p = policy(POLICY);
    assert_eq!(requested_resource(&p, None).unwrap(), None);
    assert_eq!(
        requested_resource(&p, Some("https://api.example.com/mcp"))
            .unwrap()
            .as_deref(),
        Some("https://api.example.com/mcp")
    );
    assert_eq!(
        requested_resource(&p, Some("https://api.example.com"))
            .unwrap()
            .as_deref(),
        Some("https://api.example.com"),
        "gateway.resource defaults to the issuer"
    );
    let e = requested_resource(&p, Some("https://elsewhere.example/mcp")).unwrap_err();
    assert_eq!(e.code.as_str(), "invalid_target");
    // A grant's tokens keep its resource; naming another is a widening.
    let mcp = Some("https://api.example.com/mcp");
    assert_eq!(resource_from_grant(&p, mcp, None).unwrap().as_deref(), mcp);
    assert_eq!(resource_from_grant(&p, mcp, mcp).unwrap().as_deref(), mcp);
    assert!(resource_from_grant(&p, mcp, Some("https://api.example.com")).is_err());
    assert!(
        resource_from_grant(&p, None, mcp).is_err(),
        "no resource is the gateway's, not the MCP server's"
    );
    assert_eq!(
        resource_from_grant(&p, None, Some("https://api.example.com"))
            .unwrap()
            .as_deref(),
        Some("https://api.example.com")
    );
}

#[test]
fn the_mcp_path_takes_only_tokens_for_its_resource() {
    let p = policy(POLICY);
    let tool = p.match_mcp("tools/call", Some("list_orders")).unwrap();
    let api = p.match_route("GET", "/orders").unwrap();
    let mcp = Some("https://api.example.com/mcp");
    assert_eq!(p.audience_refusal(tool, "/mcp", mcp), None);
    assert!(p.audience_refusal(tool, "/mcp", None).is_some());
    assert!(
        p.audience_refusal(tool, "/mcp", Some("https://api.example.com"))
            .is_some()
    );
    assert_eq!(p.audience_refusal(api, "/orders", None), None);
    assert_eq!(
        p.audience_refusal(api, "/orders", Some("https://api.example.com")),
        None
    );
    assert!(p.audience_refusal(api, "/orders", mcp).is_some());
    // Another method on the MCP path (an event stream, say) is the MCP server's too.
    let with_get = policy(&format!(
        "{POLICY}\n[[route]]\nmatch = \"GET /mcp\"\nrequire = \"client\"\n"
    ));
    let get = with_get.match_route("GET", "/mcp").unwrap();
    assert_eq!(with_get.audience_refusal(get, "/mcp", mcp), None);
    assert!(with_get.audience_refusal(get, "/mcp", None).is_some());
}

/// An `Mcp-Name` value as the official SDK writes it: plain when it is
/// printable ASCII without edge spaces, else in the `=?base64?…?=` form.
fn encode_name(name: &str) -> String {
    use base64::Engine;
    let plain =
        name.bytes().all(|b| (0x20..0x7f).contains(&b)) && name == name.trim() && !name.starts_with("=?base64?");
    if plain {
        name.to_owned()
    } else {
        format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(name))
    }
}

proptest! {
    /// Forward-auth decides from the headers alone, the gateway and the
    /// tower layer from the body checked against them: for every request
    /// whose headers tell the truth, all three name the same operation and
    /// reach the same decision; for every request whose headers lie, the
    /// body readers refuse it rather than decide it another way.
    #[test]
    fn every_front_end_reads_the_same_operation_and_decides_alike(
        method in "(tools/call|prompts/get|resources/read|tools/list|ping)",
        name in "(list_orders|create_order|refund_order|pick|orders://[0-9]{1,3}|caf\u{e9} au lait| padded |[a-z_]{1,12})",
        lie in proptest::option::of("(create_order|list_orders|x)"),
        scopes in proptest::sample::subsequence(vec!["read_orders", "orders", "refunds", "catalog"], 0..4),
    ) {
        let p = policy(POLICY);
        let key = scopegate_core::mcp::name_key(&method);
        let params = match key {
            Some(k) => serde_json::json!({ k: name }),
            None => serde_json::json!({}),
        };
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let header_name = lie.clone().unwrap_or_else(|| name.clone());
        let encoded = encode_name(&header_name);
        let names: Vec<&[u8]> = if key.is_some() { vec![encoded.as_bytes()] } else { vec![] };
        let from_headers = McpCall::from_headers([method.as_bytes()].into_iter(), names.clone().into_iter()).unwrap();
        let from_body = McpCall::from_body(body.as_bytes(), [method.as_bytes()].into_iter(), names.into_iter());
        let truthful = key.is_none() || lie.as_ref().is_none_or(|l| *l == name);
        if truthful {
            let from_body = from_body.unwrap();
            prop_assert_eq!(&from_body, &from_headers);
            let h = held(&p, &scopes.join(" "));
            let decide = |c: &McpCall<'_>| p.decide_route(p.match_mcp(&c.method, c.name.as_deref()), Caller::Client(&h));
            prop_assert_eq!(decide(&from_body), decide(&from_headers));
        } else {
            prop_assert!(from_body.is_err(), "a lying header must be refused, not decided");
        }
    }
}

#[test]
fn diff_reports_mcp_route_changes_by_operation() {
    let old = policy(POLICY);
    let wider = policy(&POLICY.replace(
        "match  = \"tools/call refund_order\"\nall_of = [\"orders\", \"refunds\"]",
        "match  = \"tools/call refund_order\"\nany_of = [\"orders\"]",
    ));
    let findings = scopegate_core::diff::diff(&old, &wider);
    let refund = findings
        .iter()
        .find(|f| f.subject == "mcp tools/call refund_order")
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert!(refund.widens && !refund.narrows, "{refund:?}");
    assert!(refund.why.contains("[\"orders\"]"), "{refund:?}");
    // A new tool route takes what fell to no route before.
    let more = policy(&format!(
        "{POLICY}\n[[mcp_route]]\nmatch = \"tools/call drop_tables\"\nrequire = \"client\"\n"
    ));
    let findings = scopegate_core::diff::diff(&old, &more);
    let added = findings
        .iter()
        .find(|f| f.subject == "mcp tools/call drop_tables")
        .unwrap();
    assert!(added.widens && added.before.contains("no route"), "{added:?}");
    assert!(scopegate_core::diff::diff(&old, &policy(POLICY)).is_empty());
}
