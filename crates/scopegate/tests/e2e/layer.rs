//! `scopegate-layer` around an axum router, against a real `scopegate serve`:
//! JWTs checked with the served JWKS, opaque tokens by introspection, and the
//! same answers as the gateway for the same requests.

use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, put};
use scopegate_layer::{Identity, ScopegateLayer};
use tower::ServiceExt;

use crate::gateway::app_and_token;
use crate::server::{Server, http};

fn api(layer: ScopegateLayer) -> axum::Router {
    axum::Router::new()
        .route(
            "/account/{*rest}",
            get(
                |Extension(who): Extension<Identity>, headers: axum::http::HeaderMap| async move {
                    axum::Json(serde_json::json!({
                        "client_id": who.client_id,
                        "scopes": who.scopes,
                        "header": headers.get("x-scopegate-client-id").and_then(|v| v.to_str().ok()),
                        "forged": headers.get("x-scopegate-forged").is_some(),
                    }))
                },
            ),
        )
        .route("/products/{id}", put(|| async { "changed" }))
        .layer(layer)
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn policy_of(s: &Server) -> scopegate_core::Policy {
    scopegate_core::Policy::compile("p.toml", &std::fs::read_to_string(&s.config).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_checks_jwts_with_the_jwks_and_decides_like_the_gateway() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace("format      = \"opaque\"", "format      = \"jwt\"")
    });
    let (id, _, token) = app_and_token(&s, "account:read").await;
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let app = api(ScopegateLayer::builder(policy_of(&s))
        .jwks(&s.url("/oauth2/jwks"))
        .unwrap()
        .build());
    let auth = format!("Bearer {token}");

    let (status, body) = call(
        &app,
        "GET",
        "/account/x",
        &[("authorization", &auth), ("x-scopegate-forged", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["header"], id.as_str());
    assert_eq!(body["scopes"], serde_json::json!(["account:read"]));
    assert_eq!(body["forged"], false);

    // Same requests through the gateway: same status, same body.
    for (method, path, headers) in [
        ("PUT", "/products/1", vec![("authorization", auth.as_str())]),
        ("GET", "/account/x", vec![]),
        ("GET", "/nowhere", vec![("authorization", auth.as_str())]),
        (
            "GET",
            "/account/x",
            vec![("authorization", auth.as_str()), ("x-oauth-scope", "account:write")],
        ),
        ("GET", "/account/a;b", vec![("authorization", auth.as_str())]),
    ] {
        let (layer_status, layer_body) = call(&app, method, path, &headers).await;
        let mut request = http().request(method.parse().unwrap(), s.url(path));
        for (k, v) in &headers {
            request = request.header(*k, *v);
        }
        let r = request.send().await.unwrap();
        let gateway_status = r.status().as_u16();
        let gateway_body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_eq!(layer_status.as_u16(), gateway_status, "{method} {path}");
        assert_eq!(layer_body, gateway_body, "{method} {path}");
    }

    let mut tampered = token.clone();
    let at = tampered.len() - 20;
    tampered.replace_range(at..=at, if &token[at..=at] == "A" { "B" } else { "A" });
    let (status, body) = call(
        &app,
        "GET",
        "/account/x",
        &[("authorization", &format!("Bearer {tampered}"))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_introspects_opaque_tokens_and_sees_a_revocation_within_its_cache_ttl() {
    let s = Server::start("app-analytics");
    let (id, secret, token) = app_and_token(&s, "account:read").await;
    let (rs_id, rs_secret) = s.app(&[
        "--name",
        "API",
        "--env",
        "production",
        "--scopes",
        "account:read",
        "--resource-server",
    ]);
    let layer = ScopegateLayer::builder(policy_of(&s))
        .introspection(&s.url("/oauth2/introspect"), &rs_id, &rs_secret)
        .unwrap()
        .cache_ttl(Duration::from_secs(1))
        .build();
    let app = api(layer);
    let auth = format!("Bearer {token}");
    let (status, body) = call(&app, "GET", "/account/x", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["client_id"], id.as_str());
    let (status, _) = call(&app, "PUT", "/products/1", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let r = http()
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = call(&app, "GET", "/account/x", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fetches_the_jwks_over_tls_from_a_trusted_server_only() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace("format      = \"opaque\"", "format      = \"jwt\"")
    });
    let (id, _, token) = app_and_token(&s, "account:read").await;
    // The same JWK Set, served over TLS.
    let jwks: serde_json::Value = s.get_json("/oauth2/jwks").await;
    let served = axum::Router::new().route("/jwks", get(move || async move { axum::Json(jwks) }));
    let (port, ca) = crate::gateway::tls_server(served, false).await;
    let url = format!("https://localhost:{port}/jwks");
    let auth = format!("Bearer {token}");

    let trusting = api(ScopegateLayer::builder(policy_of(&s))
        .jwks(&url)
        .unwrap()
        .tls_roots_pem(ca.as_bytes())
        .unwrap()
        .build());
    let (status, body) = call(&trusting, "GET", "/account/x", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["client_id"], id.as_str());

    // The system's roots do not include the test CA: the key set cannot be
    // fetched, and the request is refused (fail closed) as unavailable, not
    // as a bad token.
    let untrusting = api(ScopegateLayer::builder(policy_of(&s)).jwks(&url).unwrap().build());
    let (status, body) = call(&untrusting, "GET", "/account/x", &[("authorization", &auth)]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    assert_eq!(body["error"], "temporarily_unavailable");

    assert!(
        ScopegateLayer::builder(policy_of(&s))
            .tls_roots_pem(b"not a certificate")
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_verifies_es256_tokens_with_the_p256_key_of_the_jwks() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace(
            "format      = \"opaque\"",
            "format      = \"jwt\"\nalgorithm   = \"ES256\"",
        )
    });
    let (id, _, token) = app_and_token(&s, "account:read").await;
    let app = api(ScopegateLayer::builder(policy_of(&s))
        .jwks(&s.url("/oauth2/jwks"))
        .unwrap()
        .build());
    let (status, body) = call(
        &app,
        "GET",
        "/account/x",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["client_id"], id.as_str());
    // And the gateway of the same server agrees.
    let r = http()
        .get(s.url("/account/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
}

/// An MCP server written in Rust behind the layer: the same decisions and
/// challenges as the gateway, the body checked against the headers, and the
/// body still there for the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_decides_mcp_operations_like_the_gateway() {
    let s = crate::mcp::start("echo");
    let token = crate::mcp::token(&s, "read_orders").await;
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(|body: String| async move {
                let request: serde_json::Value = serde_json::from_str(&body).unwrap();
                if request["method"] == "tools/list" {
                    let tools = serde_json::json!([{"name": "list_orders"}, {"name": "create_order"}]);
                    return axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": {"tools": tools}}));
                }
                axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": {"name": request["params"]["name"]}}))
            }),
        )
        .layer(ScopegateLayer::builder(policy_of(&s)).jwks(&s.url("/oauth2/jwks")).unwrap().build());
    let auth = format!("Bearer {token}");
    let send = |name: &str, header_name: &str| {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name}});
        Request::builder()
            .method("POST")
            .uri("/mcp")
            .header("authorization", &auth)
            .header("mcp-method", "tools/call")
            .header("mcp-name", header_name)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let answer = app.clone().oneshot(send("list_orders", "list_orders")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body["result"]["name"], "list_orders",
        "the server reads the body the layer read"
    );

    let answer = app.clone().oneshot(send("create_order", "create_order")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let challenge = answer.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("scope=\"orders\""), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            s.url("/.well-known/oauth-protected-resource/mcp")
        )),
        "{challenge}"
    );
    let answer = app.clone().oneshot(send("list_orders", "create_order")).await.unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::BAD_REQUEST,
        "a header that disagrees with the body"
    );

    let list = Request::builder()
        .method("POST")
        .uri("/mcp")
        .header("authorization", &auth)
        .header("mcp-method", "tools/list")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{}}"#,
        ))
        .unwrap();
    let answer = app.clone().oneshot(list).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body["result"]["tools"],
        serde_json::json!([{"name": "list_orders"}]),
        "{body}"
    );
    assert_eq!(body["result"]["cacheScope"], "private");
}
