//! MCP servers behind scopegate (docs/mcp.md), through the real binary with
//! raw requests: the protected resource metadata, 401 and 403 challenges,
//! operations decided per tool, refusals of malformed MCP requests before
//! the upstream sees them, and forward-auth from the headers alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::server::{Server, http};

/// A stand-in MCP server that counts what reaches it and answers each
/// JSON-RPC request with its method; `tools/list` with every tool it has,
/// marked public, as JSON or (when asked with `X-Test-Sse`) as an event
/// stream with a notification first.
pub(crate) struct McpUpstream {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
}

const TOOLS: [&str; 5] = [
    "list_orders",
    "create_order",
    "refund_order",
    "search_catalog",
    "drop_tables",
];

pub(crate) async fn mcp_upstream() -> McpUpstream {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let counter = Arc::clone(&counter);
        async move {
            use axum::response::IntoResponse;
            counter.fetch_add(1, Ordering::SeqCst);
            let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if request["method"] != "tools/list" {
                return axum::Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": {"method": request["method"]}}))
                    .into_response();
            }
            let tools: Vec<Value> = TOOLS.iter().map(|name| json!({"name": name, "inputSchema": {"type": "object"}})).collect();
            let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"tools": tools, "nextCursor": "page-2", "cacheScope": "public"}});
            if headers.contains_key("x-test-sse") {
                let stream = format!(
                    "event: message\ndata: {}\n\nevent: message\ndata: {answer}\n\n",
                    json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "listing"}})
                );
                return ([("content-type", "text/event-stream")], stream).into_response();
            }
            axum::Json(answer).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    McpUpstream { base, hits }
}

/// examples/mcp on a free port that is its issuer's, with `upstream`.
pub(crate) fn start(upstream: &str) -> Server {
    let port = crate::free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let upstream = upstream.to_owned();
    Server::launch_on(
        crate::server::new_dir(),
        "mcp",
        move |policy| {
            policy
                .replacen("\"http://127.0.0.1:8080\"", &format!("\"{issuer}\""), 1)
                .replacen("\"http://127.0.0.1:8000\"", &format!("\"{upstream}\""), 1)
        },
        &[],
        format!("127.0.0.1:{port}"),
    )
}

/// A client_credentials token for the MCP server, for an app granted `scopes`.
pub(crate) async fn token(s: &Server, scopes: &str) -> String {
    token_for(s, scopes, Some(&s.url("/mcp"))).await
}

/// A client_credentials token for `resource` (none: `None`).
pub(crate) async fn token_for(s: &Server, scopes: &str, resource: Option<&str>) -> String {
    let (id, secret) = s.app(&["--name", "Agent", "--env", "production", "--scopes", scopes]);
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resource.map(|r| ("resource", r)));
    let r = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

fn call(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// POSTs `body` to /mcp with `headers`; status, WWW-Authenticate and body.
async fn post(s: &Server, token: Option<&str>, headers: &[(&str, &str)], body: String) -> (StatusCode, String, Value) {
    let mut request = http()
        .post(s.url("/mcp"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

async fn tool(s: &Server, token: Option<&str>, name: &str) -> (StatusCode, String, Value) {
    post(
        s,
        token,
        &[("mcp-method", "tools/call"), ("mcp-name", name)],
        call("tools/call", json!({"name": name, "arguments": {}})),
    )
    .await
}

#[tokio::test]
async fn the_protected_resource_metadata_names_the_issuer_and_the_list_scopes() {
    let s = start("echo");
    let doc = s.get_json("/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(doc["resource"], s.url("/mcp"));
    assert_eq!(doc["authorization_servers"], json!([s.base]));
    // As listed in [mcp] scopes_supported.
    assert_eq!(doc["scopes_supported"], json!(["read_orders"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    let other = http()
        .get(s.url("/.well-known/oauth-protected-resource/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_mcp_401_names_the_resource_metadata_and_no_empty_scope() {
    let s = start("echo");
    let (status, challenge, _) = tool(&s, None, "list_orders").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let metadata = format!(
        "resource_metadata=\"{}\"",
        s.url("/.well-known/oauth-protected-resource/mcp")
    );
    assert!(challenge.contains(&metadata), "{challenge}");
    assert!(!challenge.contains("scope=\"\""), "{challenge}");
    let (status, challenge, _) = tool(&s, Some("sgat_not_a_token"), "list_orders").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains("invalid_token") && challenge.contains(&metadata),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_decided_one_by_one_with_a_minimal_challenge() {
    let upstream = mcp_upstream().await;
    let s = start(&upstream.base);
    let token = token(&s, "read_orders").await;
    let (status, _, body) = tool(&s, Some(&token), "list_orders").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["method"], "tools/call");
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 1);

    // any_of ["orders"], and read_orders held: ask for orders.
    let (status, challenge, body) = tool(&s, Some(&token), "create_order").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.contains("scope=\"orders\""), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    // all_of ["orders", "refunds"]: both, in one challenge.
    let (_, challenge, _) = tool(&s, Some(&token), "refund_order").await;
    assert!(challenge.contains("scope=\"orders refunds\""), "{challenge}");
    // A tool no mcp_route names.
    let (status, _, body) = tool(&s, Some(&token), "drop_tables").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "route_not_found");

    let orders = self::token(&s, "orders refunds").await;
    let (status, _, _) = tool(&s, Some(&orders), "refund_order").await;
    assert_eq!(status, StatusCode::OK);
    // orders implies read_orders.
    let (status, _, _) = tool(&s, Some(&orders), "list_orders").await;
    assert_eq!(status, StatusCode::OK);
    // Resources are decided by URI, prompts by name.
    let (status, _, _) = post(
        &s,
        Some(&token),
        &[("mcp-method", "resources/read"), ("mcp-name", "orders://42")],
        call("resources/read", json!({"uri": "orders://42"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = post(
        &s,
        Some(&token),
        &[("mcp-method", "resources/read"), ("mcp-name", "secrets://all")],
        call("resources/read", json!({"uri": "secrets://all"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_mcp_requests_are_400_and_never_reach_the_upstream() {
    let upstream = mcp_upstream().await;
    let s = start(&upstream.base);
    let token = token(&s, "orders refunds read_catalog").await;
    let good = call("tools/call", json!({"name": "list_orders"}));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case<'_>> = vec![
        ("no Mcp-Method", vec![("mcp-name", "list_orders")], good.clone()),
        ("no Mcp-Name", vec![("mcp-method", "tools/call")], good.clone()),
        (
            "another name",
            vec![("mcp-method", "tools/call"), ("mcp-name", "create_order")],
            good.clone(),
        ),
        ("another method", vec![("mcp-method", "tools/list")], good.clone()),
        (
            "a batch",
            vec![("mcp-method", "tools/call"), ("mcp-name", "list_orders")],
            format!("[{good}]"),
        ),
        (
            "not JSON",
            vec![("mcp-method", "tools/call"), ("mcp-name", "list_orders")],
            "tools/call list_orders".into(),
        ),
        (
            "a response",
            vec![("mcp-method", "tools/call"), ("mcp-name", "list_orders")],
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.into(),
        ),
        (
            "a bad base64 name",
            vec![("mcp-method", "tools/call"), ("mcp-name", "=?base64?!!?=")],
            good.clone(),
        ),
    ];
    for (what, headers, body) in cases {
        let (status, _, answer) = post(&s, Some(&token), &headers, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{what}");
    }
    // The base64 form of a name is the name.
    let (status, _, _) = post(
        &s,
        Some(&token),
        &[
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?bGlzdF9vcmRlcnM=?="),
        ],
        good.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Past gateway.max_body_bytes (10 MiB by default): 413.
    let huge = call(
        "tools/call",
        json!({"name": "list_orders", "arguments": {"x": "a".repeat(11 << 20)}}),
    );
    let (status, _, answer) = post(
        &s,
        Some(&token),
        &[("mcp-method", "tools/call"), ("mcp-name", "list_orders")],
        huge,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(
        upstream.hits.load(Ordering::SeqCst),
        1,
        "only the one good request got through"
    );
}

#[tokio::test]
async fn forward_auth_decides_mcp_requests_from_their_headers() {
    let s = start("echo");
    let token = token(&s, "read_orders").await;
    let ask = |name: &'static str| {
        http()
            .get(s.url("/authz"))
            .bearer_auth(&token)
            .header("x-forwarded-method", "POST")
            .header("x-forwarded-uri", "/mcp")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .send()
    };
    let allowed = ask("list_orders").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["x-scopegate-scopes"], "read_orders");
    let refused = ask("create_order").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("scope=\"orders\"") && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    let headless = http()
        .get(s.url("/authz"))
        .bearer_auth(&token)
        .header("x-forwarded-method", "POST")
        .header("x-forwarded-uri", "/mcp")
        .send()
        .await
        .unwrap();
    assert_eq!(headless.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn explain_and_scopes_for_take_an_mcp_operation() {
    let config = crate::workspace_root().join("examples/mcp/scopegate.toml");
    let config = config.to_str().unwrap();
    let o = crate::scopegate(&[
        "explain",
        "--config",
        config,
        "--scopes",
        "read_orders",
        "mcp",
        "tools/call create_order",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = crate::stdout(&o);
    assert!(out.contains("route      mcp tools/call create_order"), "{out}");
    assert!(out.contains("the challenge asks for scope=\"orders\""), "{out}");
    let o = crate::scopegate(&[
        "scopes-for",
        "--config",
        config,
        "mcp tools/call refund_order",
        "mcp tools/call list_orders",
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    assert!(
        crate::stdout(&o).starts_with("orders refunds\n"),
        "{}",
        crate::stdout(&o)
    );
    let tools = crate::workspace_root().join("examples/mcp/tools.json");
    let o = crate::scopegate(&["import-mcp", tools.to_str().unwrap(), "--config", config]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let out = crate::stdout(&o);
    assert!(out.contains("match       = \"tools/call export_customers\""), "{out}");
    assert!(!out.contains("list_orders"), "routed already: {out}");
    let o = crate::scopegate(&["import-mcp", config]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a policy file is not JSON: {}",
        crate::stderr(&o)
    );
    let o = crate::scopegate(&["scopes-for", "--config", config, "mcp tools/call"]);
    assert!(!o.status.success());
    assert!(
        crate::stderr(&o).contains("tools/call needs its name"),
        "{}",
        crate::stderr(&o)
    );
}

async fn listed(s: &Server, token: &str, sse: bool) -> (reqwest::header::HeaderMap, String) {
    let mut request = http()
        .post(s.url("/mcp"))
        .bearer_auth(token)
        .header("mcp-method", "tools/list")
        .body(call("tools/list", json!({})));
    if sse {
        request = request.header("x-test-sse", "1");
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let headers = r.headers().clone();
    (headers, r.text().await.unwrap())
}

fn tool_names(answer: &Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_lists_show_only_what_the_caller_may_call_as_json_and_as_an_event_stream() {
    let upstream = mcp_upstream().await;
    let s = start(&upstream.base);
    let reader = token(&s, "read_orders").await;
    let (headers, body) = listed(&s, &reader, false).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tool_names(&answer), ["list_orders"]);
    assert_eq!(answer["result"]["cacheScope"], "private", "the server said public");
    assert_eq!(answer["result"]["nextCursor"], "page-2");
    assert_eq!(headers["content-length"], body.len().to_string().as_str());

    let writer = token(&s, "orders refunds read_catalog").await;
    let (headers, body) = listed(&s, &writer, true).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.trim().is_empty()).collect();
    assert_eq!(events.len(), 2, "{body}");
    assert!(
        events[0].contains("notifications/message"),
        "other events pass as they are"
    );
    let data = events[1].lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let answer: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        tool_names(&answer),
        ["list_orders", "create_order", "refund_order", "search_catalog"],
        "drop_tables has no mcp_route"
    );
    assert_eq!(answer["result"]["cacheScope"], "private");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_bound_to_their_resource_both_ways() {
    let upstream = mcp_upstream().await;
    let s = start(&upstream.base);
    let for_mcp = token(&s, "read_orders").await;
    let for_api = token_for(&s, "read_orders", None).await;
    let for_gateway = token_for(&s, "read_orders", Some(&s.base)).await;

    // The JWT names its resource as its audience.
    use base64::Engine;
    let payload = for_mcp.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], s.url("/mcp"));

    let (status, _, _) = tool(&s, Some(&for_mcp), "list_orders").await;
    assert_eq!(status, StatusCode::OK);
    for other in [&for_api, &for_gateway] {
        let (status, challenge, body) = tool(&s, Some(other), "list_orders").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            challenge.contains("error=\"invalid_token\"") && challenge.contains("resource_metadata="),
            "{challenge}"
        );
        assert!(
            body["error_description"].as_str().unwrap().contains("resource="),
            "{body}"
        );
    }
    let api = |token: String| {
        let url = s.url("/api/v1/orders/1");
        async move { http().get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(api(for_api.clone()).await, StatusCode::OK);
    assert_eq!(api(for_gateway.clone()).await, StatusCode::OK);
    assert_eq!(
        api(for_mcp.clone()).await,
        StatusCode::UNAUTHORIZED,
        "an MCP token is not an API token"
    );
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_unknown_resource_is_invalid_target() {
    let s = start("echo");
    let (id, secret) = s.app(&["--name", "Agent", "--env", "production", "--scopes", "read_orders"]);
    let r = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://elsewhere.example/mcp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target", "{body}");
}
