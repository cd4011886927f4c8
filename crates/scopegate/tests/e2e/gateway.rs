//! The gateway and forward-auth rules of docs/gateway.md through the real binary:
//! the built-in echo upstream, a real upstream in this test process that
//! counts what reaches it, raw HTTP for paths no client library would send.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::{Server, http};

/// An app on app-analytics with `scopes`, and a client_credentials token for it.
pub(crate) async fn app_and_token(s: &Server, scopes: &str) -> (String, String, String) {
    let (id, secret) = s.app(&["--name", "Gw", "--env", "production", "--scopes", scopes]);
    let r = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    (id, secret, v["access_token"].as_str().unwrap().to_owned())
}

async fn json(r: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

/// `GET path` with a bearer token, as status, headers and JSON body.
async fn get_json(s: &Server, path: &str, token: &str) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    json(http().get(s.url(path)).bearer_auth(token).send().await.unwrap()).await
}

/// Sends `head` as is (it must ask for `Connection: close`) and returns the status.
async fn raw_status(base: &str, head: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// A real upstream: counts requests, answers with the headers it saw, and
/// takes three seconds on `/slow`.
pub(crate) struct EchoUpstream {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
}

pub(crate) async fn upstream() -> EchoUpstream {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            if uri.path() == "/account/slow" {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let headers: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").into()))
                .collect();
            axum::Json(serde_json::json!({"uri": uri.to_string(), "headers": headers}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    EchoUpstream { base, hits }
}

fn with_upstream(base: &str, extra: &str) -> impl FnOnce(String) -> String {
    let replacement = format!("upstream   = \"{base}\"\n{extra}");
    move |policy: String| policy.replacen("upstream   = \"echo\"", &replacement, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sees_identity_headers_and_the_canonical_path_and_nothing_spoofed() {
    let up = upstream().await;
    let s = Server::start_edited("app-analytics", with_upstream(&up.base, ""));
    let (id, _, token) = app_and_token(&s, "account:read public:write").await;
    let r = http()
        .get(s.url("/account/%7esettings/%41?q=%2F&b"))
        .bearer_auth(&token)
        .header("X-Scopegate-Client-Id", "forged")
        .header("x_scopegate_scopes", "admin")
        .header("X-SCOPEGATE-SUBJECT", "root")
        .header("X-Scopegate-Anything", "1")
        .header("X-OAuth-Scope", "account:read")
        .header("Connection", "x-scopegate-client-id, x-scopegate-scopes, keep-alive")
        .header("X-Forwarded-For", "10.0.0.9")
        .header("X-Forwarded-For", "10.0.0.10")
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(r).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["uri"], "/account/~settings/A?q=%2F&b",
        "canonical path, query unchanged"
    );
    let h = &body["headers"];
    assert_eq!(h["x-scopegate-client-id"], id.as_str());
    assert_eq!(h["x-scopegate-scopes"], "account:read", "narrowed by X-OAuth-Scope");
    assert_eq!(h["x-scopegate-environment"], "production");
    for gone in [
        "x-scopegate-subject",
        "x_scopegate_scopes",
        "x-scopegate-anything",
        "x-oauth-scope",
        "authorization",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the upstream: {h:#}");
    }
    assert_eq!(
        h["x-forwarded-for"], "10.0.0.9, 10.0.0.10, 127.0.0.1",
        "every caller line, as one list"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h["x-forwarded-host"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(up.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_never_reach_the_upstream() {
    let up = upstream().await;
    let s = Server::start_edited("app-analytics", with_upstream(&up.base, ""));
    let (_, _, token) = app_and_token(&s, "public:read").await;
    let c = http();
    let no_scope = c.get(s.url("/account/x")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(no_scope.status(), StatusCode::FORBIDDEN);
    let no_route = c.get(s.url("/nowhere")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(no_route.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        no_route.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "route_not_found"})
    );
    let anonymous = c.get(s.url("/account/x")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let bad_token = c
        .get(s.url("/account/x"))
        .bearer_auth("sgat_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), StatusCode::UNAUTHORIZED);
    let narrowed_beyond = c
        .get(s.url("/reviews"))
        .bearer_auth(&token)
        .header("X-OAuth-Scope", "account:read")
        .send()
        .await
        .unwrap();
    assert_eq!(narrowed_beyond.status(), StatusCode::FORBIDDEN);
    let bad_path = raw_status(
        &s.base,
        b"GET /reviews/..%2Faccount HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(bad_path, 400);
    assert_eq!(
        up.hits.load(Ordering::SeqCst),
        0,
        "the upstream was contacted on a denial"
    );
}

#[tokio::test]
async fn refusals_follow_rfc_6750() {
    let s = Server::start("app-analytics");
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let c = http();
    let (status, headers, _) = json(c.get(s.url("/account/x")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"scopegate\"");
    let (status, headers, body) = json(c.get(s.url("/account/x")).bearer_auth("sgat_x").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"scopegate\", error=\"invalid_token\""
    );
    assert_eq!(body["error"], "invalid_token");
    let (status, headers, body) = json(c.put(s.url("/products/42")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"products:write\""
    );
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["required"], serde_json::json!({"any_of": ["products:write"]}));
    assert_eq!(body["granted"], serde_json::json!(["account:read"]));
    let (status, _, body) = json(
        c.get(s.url("/account/x"))
            .bearer_auth(&token)
            .header("X-OAuth-Scope", "no_such_scope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "naming an undeclared scope");
    assert_eq!(body["error"], "invalid_request");
    let (status, _, body) = json(
        c.get(s.url(&format!("/account/x?access_token={token}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a token given two ways");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn http_basic_acts_with_the_default_scopes() {
    let s = Server::start("app-analytics");
    let (id, secret) = s.app(&[
        "--name",
        "Basic",
        "--env",
        "production",
        "--scopes",
        "account:read products:write",
        "--default-scopes",
        "account:read",
    ]);
    let c = http();
    let r = c
        .get(s.url("/account/x"))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["headers"]["x-scopegate-scopes"], "account:read");
    assert_eq!(body["headers"]["x-scopegate-client-id"], id.as_str());
    let r = c
        .put(s.url("/products/1"))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "products:write is assigned but not a default"
    );
    let r = c
        .get(s.url("/account/x"))
        .basic_auth(&id, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(s.url("/")).basic_auth(&id, Some(&secret)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "`require = \"client\"` routes take any app");
}

#[tokio::test]
async fn http_basic_is_refused_where_basic_auth_is_off() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace("basic_auth = true", "basic_auth = false")
    });
    let (id, secret) = s.app(&["--name", "B", "--env", "production", "--scopes", "account:read"]);
    let r = http()
        .get(s.url("/account/x"))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error_description"].as_str().unwrap().contains("basic_auth"));
}

#[tokio::test]
async fn keys_of_another_environment_are_refused() {
    let s = Server::start("marketplace");
    let (id, secret) = s.app(&[
        "--name",
        "Sandbox",
        "--env",
        "sandbox",
        "--scopes",
        "https://api.example.com/oauth/api_scope",
    ]);
    let r = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(r).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let token = body["access_token"].as_str().unwrap();
    let r = http()
        .get(s.url("/buy/browse/v1/item/1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, headers, body) = json(r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:#}");
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert!(body["error_description"].as_str().unwrap().contains("sandbox"));
}

#[tokio::test]
async fn a_token_revoked_by_another_process_is_refused_within_the_cache_ttl() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace("basic_auth = true", "basic_auth = true\ncache_ttl  = \"1s\"")
    });
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let c = http();
    let r = c.get(s.url("/account/x")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let o = crate::scopegate(&["token", "revoke", "--config", s.config.to_str().unwrap(), &token]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = c.get(s.url("/account/x")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    let s = Server::start_edited("app-analytics", with_upstream("http://127.0.0.1:9", ""));
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let (status, _, body) = get_json(&s, "/account/x", &token).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "bad_gateway");

    let up = upstream().await;
    let s = Server::start_edited("app-analytics", with_upstream(&up.base, "response_timeout = \"1s\""));
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let (status, _, body) = get_json(&s, "/account/slow", &token).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["error"], "gateway_timeout");
}

#[tokio::test]
async fn oversized_requests_are_413_414_or_431_never_5xx() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace("basic_auth = true", "basic_auth = true\nmax_body_bytes = 1024")
    });
    let (_, _, token) = app_and_token(&s, "account:write").await;
    let c = http();
    let r = c
        .post(s.url("/events"))
        .bearer_auth(&token)
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = c
        .post(s.url("/events"))
        .bearer_auth(&token)
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["body_bytes"], 1000);
    let r = c
        .get(s.url("/account/x"))
        .bearer_auth(&token)
        .header("X-Big", "y".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Path and query: 414, whatever the credentials.
    for target in [
        format!("/account/{}", "p".repeat(4100)),
        format!("/account/x?q={}", "q".repeat(8200)),
    ] {
        let r = c.get(s.url(&target)).bearer_auth(&token).send().await.unwrap();
        let (status, _, body) = json(r).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG, "{body}");
        assert_eq!(body["error"], "uri_too_long");
        assert!(
            body["error_description"].as_str().unwrap().contains("gateway.max_"),
            "{body}"
        );
    }
    let r = c
        .get(s.url(&format!("/account/{}", "p".repeat(4000))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a long path within the limit");
    // More than 100 header fields: 431.
    let mut many = c.get(s.url("/account/x")).bearer_auth(&token);
    for i in 0..101 {
        many = many.header(format!("x-field-{i}"), "1");
    }
    assert_eq!(
        many.send().await.unwrap().status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // scopegate's own endpoints are bounded by the same head size.
    let r = c
        .post(s.url("/oauth2/token"))
        .header("X-Big", "y".repeat(48 * 1024))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

/// One path per attack class of docs/paths.md: each would reach
/// `GET /account/*` (account:read) from `GET /reviews/*` (public:read).
const ATTACKS: &[&str] = &[
    "/reviews/a%2F..%2F..%2Faccount%2Fx",
    "/reviews/a%5C..%5C..%5Caccount",
    "/reviews/%2e%2e/%2e%2e/account/x",
    "/reviews/../account/x",
    "/reviews/./x",
    "/reviews/x.",
    "/reviews/a%252F..%252Faccount",
    "/reviews;x=1/a",
    "/reviews/..;/account/x",
    "/reviews/a%3B/x",
    "/reviews/a%00.json",
    "/reviews/a%0d%0aX:1",
    "//reviews/a",
    "/reviews//a",
    "/reviews/%C0%AF..%C0%AFaccount",
    "/reviews/%FF",
    "/reviews/%ED%A0%80",
    "/reviews/%EF%BC%8Faccount",
    "/reviews/a%zz",
    "/reviews/a%",
];

#[tokio::test]
async fn every_path_attack_class_is_400_through_the_proxy_and_forward_auth() {
    let s = Server::start("app-analytics");
    let (_, _, token) = app_and_token(&s, "public:read").await;
    for path in ATTACKS {
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw_status(&s.base, head.as_bytes()).await, 400, "proxy: {path}");
        let head = format!(
            "GET /authz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nX-Original-Method: GET\r\nX-Original-URI: {path}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(raw_status(&s.base, head.as_bytes()).await, 400, "forward-auth: {path}");
    }
    // Raw bytes no client library would send.
    for raw in [
        &b"/reviews/a\\..\\account"[..],
        "/reviews/\u{FF0F}account".as_bytes(),
        b"/reviews/a\x01",
    ] {
        let mut head = b"GET ".to_vec();
        head.extend_from_slice(raw);
        head.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            raw_status(&s.base, &head).await,
            400,
            "proxy: {}",
            String::from_utf8_lossy(raw)
        );
    }
    let deep = format!("/reviews{}", "/a".repeat(200));
    let r = http()
        .get(s.url("/authz"))
        .bearer_auth(&token)
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", &deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "over 128 segments");
    for not_origin in ["reviews/a", "*", "/reviews/a#x"] {
        let r = http()
            .get(s.url("/authz"))
            .bearer_auth(&token)
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", not_origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{not_origin}");
    }
    // And the legitimate path still works.
    let r = http()
        .get(s.url("/reviews/a"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn forward_auth_answers_200_with_identity_headers() {
    let s = Server::start("app-analytics");
    let (id, _, token) = app_and_token(&s, "account:read").await;
    let r = http()
        .get(s.url("/authz"))
        .bearer_auth(&token)
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/account/x?y=1")
        .header("X-Scopegate-Client-Id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-scopegate-client-id"], id.as_str());
    assert_eq!(r.headers()["x-scopegate-scopes"], "account:read");
    let r = http()
        .post(s.url("/authz/account/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "Envoy: POST /account/x has no route");
}

#[tokio::test]
async fn the_policy_reloads_when_its_file_changes_and_an_invalid_one_is_not_taken() {
    let s = Server::start("app-analytics");
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let c = http();
    let status = |path: &'static str| {
        let c = c.clone();
        let url = s.url(path);
        let token = token.clone();
        async move { c.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(status("/reports/custom").await, StatusCode::NOT_FOUND);
    let original = std::fs::read_to_string(&s.config).unwrap();
    let added = format!("{original}\n[[route]]\nmatch = \"GET /reports/custom\"\nany_of = [\"account:read\"]\n");
    std::fs::write(&s.config, &added).unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        if status("/reports/custom").await == StatusCode::OK {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the new route never took effect");
    std::fs::write(
        &s.config,
        format!("{added}\n[[route]]\nmatch = \"GET /bad\"\nany_of = [\"undeclared\"]\n"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(status("/reports/custom").await, StatusCode::OK, "the old policy stays");
    let metrics = c.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("scopegate_policy_reloads_total{result=\"invalid\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scopegate_policy_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
}

/// An upstream that answers each connection's first request, claiming
/// keep-alive, then closes it: what an upstream's idle timeout looks like to a
/// pool. Returns its base URL and how many connections it accepted.
async fn closing_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
                    )
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (base, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_not_an_error() {
    let (base, accepted) = closing_upstream().await;
    let s = Server::start_edited("app-analytics", with_upstream(&base, ""));
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let c = http();
    for i in 0..6 {
        let r = c.get(s.url("/account/x")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(r.text().await.unwrap(), "{\"ok\":true}");
        // Half the time at once, so that the close can race the next request.
        if i % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 6, "one connection per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_http2_speaks_h2c_to_the_upstream() {
    let app = axum::Router::new().fallback(|request: axum::extract::Request| async move {
        axum::Json(serde_json::json!({
            "version": format!("{:?}", request.version()),
            "uri": request.uri().to_string(),
            "client": request.headers().get("x-scopegate-client-id").and_then(|v| v.to_str().ok()),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = Server::start_edited("app-analytics", with_upstream(&base, "upstream_http2 = true"));
    let (id, _, token) = app_and_token(&s, "account:read").await;
    let c = http();
    for _ in 0..3 {
        let r = c.get(s.url("/account/x?y=1")).bearer_auth(&token).send().await.unwrap();
        let (status, _, body) = json(r).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["version"], "HTTP/2.0");
        assert!(body["uri"].as_str().unwrap().ends_with("/account/x?y=1"), "{body:#}");
        assert_eq!(body["client"], id.as_str());
    }
}

/// `scopegate serve` on app-analytics with its log (at `filter`) in a file.
struct Logged {
    child: std::process::Child,
    base: String,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Logged {
    fn start(name: &str, filter: &str) -> Logged {
        let dir = std::env::temp_dir().join(format!("scopegate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = std::fs::read_to_string(crate::workspace_root().join("examples/app-analytics/scopegate.toml"))
            .unwrap()
            .replace("sqlite://scopegate.db", &format!("sqlite://{}/db", dir.display()));
        let config = dir.join("scopegate.toml");
        std::fs::write(&config, source).unwrap();
        let log = dir.join("log");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scopegate"))
            .args(["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", filter)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        Logged {
            child,
            base,
            config,
            log,
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the log for `needle` for up to 2.5 s.
    async fn wait_for(&self, needle: &str) -> bool {
        for _ in 0..50 {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn sighup_reloads_the_policy() {
    let s = Logged::start("hup", "info,scopegate::decision=warn");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        s.wait_for("SIGHUP").await,
        "no reload logged after SIGHUP:\n{}",
        s.log()
    );
    let metrics = http()
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("scopegate_policy_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn every_decision_is_logged_with_its_route_and_reason_and_no_secret() {
    let s = Logged::start("log", "warn,scopegate::decision=info");
    let (id, secret) = {
        let o = crate::scopegate(&[
            "app",
            "create",
            "--config",
            s.config.to_str().unwrap(),
            "--json",
            "--name",
            "Log",
            "--env",
            "production",
            "--scopes",
            "account:read",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["client_id"].as_str().unwrap().to_owned(),
            v["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let c = http();
    let allowed = c
        .get(format!("{}/account/x?secret_query=1", s.base))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let denied = c
        .put(format!("{}/products/1", s.base))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let anonymous = c.get(format!("{}/account/x", s.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(s.wait_for("unauthenticated").await, "{}", s.log());
    let log = s.log();
    // Every refusal names the app (when its credentials were read) and why.
    let line = |outcome: &str| {
        log.lines()
            .find(|l| l.contains(&format!("outcome=\"{outcome}\"")))
            .unwrap_or_else(|| panic!("no {outcome} line in {log}"))
            .to_owned()
    };
    let forbidden = line("insufficient_scope");
    assert!(forbidden.contains(&format!("client_id=\"{id}\"")), "{forbidden}");
    assert!(
        forbidden.contains("reason=\"needs one of products:write; holds account:read\""),
        "{forbidden}"
    );
    let unauthenticated = line("unauthenticated");
    assert!(
        unauthenticated.contains("reason=\"no credentials\""),
        "{unauthenticated}"
    );
    assert!(
        !log.contains("reason=\"-\""),
        "a decision logged without a reason: {log}"
    );
    assert!(
        log.contains("GET /account/*") && log.contains("account:read") && log.contains("allow"),
        "{log}"
    );
    assert!(log.contains("PUT /products/{product_id}"), "{log}");
    assert!(!log.contains(&secret), "a client secret reached the log");
    assert!(!log.contains("secret_query"), "a query string reached the log");
    assert!(
        !log.contains('\u{1b}'),
        "a log written to a file has no terminal escape codes"
    );
    assert!(
        log.contains("outcome=\"insufficient_scope\"") || log.contains("outcome=insufficient_scope"),
        "{log}"
    );
}

/// A certificate authority made for one test, and a server certificate it
/// signed for `localhost` and 127.0.0.1: (CA PEM, server chain, server key).
fn test_pki() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "scopegate test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (ca.pem(), cert.der().clone(), key)
}

/// axum over TLS: the handshake happens in `accept`.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// `app` served over TLS on 127.0.0.1, offering ALPN `h2` or `http/1.1`,
/// with a certificate from a fresh CA; (port, the CA's PEM).
pub(crate) async fn tls_server(app: axum::Router, h2: bool) -> (u16, String) {
    let (ca, cert, key) = test_pki();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![if h2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, ca)
}

/// An HTTPS upstream answering what it saw; (port, CA PEM, hits).
async fn tls_upstream(h2: bool) -> (u16, String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let client = request
                .headers()
                .get("x-scopegate-client-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let uri = request.uri();
            let target = uri.path_and_query().map_or(String::new(), ToString::to_string);
            axum::Json(
                serde_json::json!({"uri": target, "client": client, "version": format!("{:?}", request.version())}),
            )
        }
    });
    let (port, ca) = tls_server(app, h2).await;
    (port, ca, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_is_reached_over_tls_verified_against_the_trusted_roots() {
    let (port, ca, hits) = tls_upstream(false).await;
    for base in [format!("https://localhost:{port}"), format!("https://127.0.0.1:{port}")] {
        let s = Server::start_trusting("app-analytics", with_upstream(&base, ""), &ca);
        let (id, _, token) = app_and_token(&s, "account:read").await;
        for _ in 0..2 {
            let (status, _, body) = get_json(&s, "/account/x?y=1", &token).await;
            assert_eq!(status, StatusCode::OK, "{base}: {body:#}");
            assert_eq!(body["uri"], "/account/x?y=1");
            assert_eq!(body["client"], id.as_str());
            assert_eq!(body["version"], "HTTP/1.1");
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_with_an_untrusted_certificate_is_502_and_never_sent_the_request() {
    let (port, _, hits) = tls_upstream(false).await;
    // Trust only another CA: the upstream's certificate must not be accepted.
    let (other_ca, _, _) = test_pki();
    let s = Server::start_trusting(
        "app-analytics",
        with_upstream(&format!("https://localhost:{port}"), ""),
        &other_ca,
    );
    let (_, _, token) = app_and_token(&s, "account:read").await;
    let (status, _, body) = get_json(&s, "/account/x", &token).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body:#}");
    assert_eq!(body["error"], "bad_gateway");
    assert_eq!(body["error_description"], "the TLS handshake with the upstream failed");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_http2_over_tls_negotiates_h2_by_alpn() {
    let (port, ca, hits) = tls_upstream(true).await;
    let s = Server::start_trusting(
        "app-analytics",
        with_upstream(&format!("https://localhost:{port}"), "upstream_http2 = true"),
        &ca,
    );
    let (id, _, token) = app_and_token(&s, "account:read").await;
    for _ in 0..3 {
        let (status, _, body) = get_json(&s, "/account/x?y=1", &token).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["version"], "HTTP/2.0");
        assert_eq!(body["uri"], "/account/x?y=1");
        assert_eq!(body["client"], id.as_str());
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

/// Reads until the server closes the connection; `None` if it stays open past `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_client_connections_are_closed_after_idle_timeout() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace("upstream   = \"echo\"", "upstream   = \"echo\"\nidle_timeout = \"1s\"")
    });
    let addr = s.base.trim_start_matches("http://").to_owned();

    // Slowloris: a head that never ends.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /help HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(4)).await.is_some(),
        "a request head still incomplete after idle_timeout closes the connection"
    );

    // Nothing at all.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(4)).await.is_some());

    // A kept-alive connection: served, then closed once idle for that long.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(closed_within(&mut kept, Duration::from_secs(4)).await.is_some());

    // A client that keeps sending complete requests in time is not cut off.
    let c = http();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let metadata = c.get(s.url("/.well-known/oauth-authorization-server")).send().await;
        assert_eq!(metadata.unwrap().status(), StatusCode::OK);
    }
}

/// Writes `head`, then `chunk` bytes every `gap` from a task (at most the
/// head's Content-Length), until the server closes the connection; returns
/// what the server answered.
async fn trickle_body(addr: &str, head: String, chunk: usize, gap: Duration, within: Duration) -> Option<String> {
    let length: usize = head
        .split("Content-Length: ")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        while sent < length {
            tokio::time::sleep(gap).await;
            let n = chunk.min(length - sent);
            if write.write_all(&vec![b'x'; n]).await.is_err() {
                return;
            }
            sent += n;
        }
        // Held open: the server is the one to close.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(write);
    });
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    closed.ok().map(|()| String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_and_a_steady_one_is_not() {
    let s = Server::start_edited("app-analytics", |p| {
        p.replace(
            "upstream   = \"echo\"",
            "upstream   = \"echo\"\nbody_timeout = \"1s\"\nbody_min_rate = 1000",
        )
    });
    let (_, _, token) = app_and_token(&s, "account:write").await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let post = |path: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    // A byte every 200 ms earns nothing: 408 and closed, about 1 s in.
    let answer = trickle_body(
        &addr,
        post("/events", 100),
        1,
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .await
    .expect("the trickled gateway request is closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("gateway.body_timeout"), "{answer}");
    // scopegate's own endpoints are held to it too: refused, never 5xx, closed.
    let answer = trickle_body(
        &addr,
        post("/oauth2/token", 100),
        1,
        Duration::from_millis(200),
        Duration::from_secs(5),
    )
    .await
    .expect("the trickled token request is closed");
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    // 300 bytes every 200 ms keeps ahead of 1000 bytes a second: served.
    let answer = trickle_body(
        &addr,
        post("/events", 3000),
        300,
        Duration::from_millis(200),
        Duration::from_secs(8),
    )
    .await;
    let answer = answer.unwrap_or_default();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\"body_bytes\":3000"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_stop_healthz() {
    let s = Server::start("app-analytics");
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /account/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(c);
    }
    let started = std::time::Instant::now();
    let health = http().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    drop(held);
}
